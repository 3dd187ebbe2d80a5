------------------------------------------------------------------------
-- PromQL parser
------------------------------------------------------------------------
CREATE FUNCTION promql_format(query text) RETURNS text
    AS 'MODULE_PATHNAME', 'mimir_promql_format' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION promql_format(text) IS
    'parse a PromQL expression and return it in Prometheus'' canonical form (as /api/v1/format_query); raises parse errors';
