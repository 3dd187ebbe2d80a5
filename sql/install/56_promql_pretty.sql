------------------------------------------------------------------------
-- PromQL pretty printing (src/promql/promql_print.c)
------------------------------------------------------------------------
CREATE FUNCTION promql_pretty(query text) RETURNS text
    AS 'MODULE_PATHNAME', 'mimir_promql_pretty' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION promql_pretty(text) IS
    'parse a PromQL expression and lay it out as Prometheus'' Prettify does (what /api/v1/format_query returns: one line up to 100 characters, indented lines beyond); raises parse errors';
