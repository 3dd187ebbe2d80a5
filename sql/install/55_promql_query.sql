------------------------------------------------------------------------
-- PromQL queries (src/promql/promql_sql.c)
------------------------------------------------------------------------
-- Instant query. A vector gives one row per series, a range vector one row
-- per sample, a scalar one row with NULL labels (a string: labels holds the
-- JSON string and value is NULL). Rows come in result order.
CREATE FUNCTION query(query text, at timestamptz DEFAULT now(), tenant text DEFAULT NULL)
    RETURNS TABLE(labels jsonb, t timestamptz, value float8)
    AS 'MODULE_PATHNAME', 'mimir_query' LANGUAGE C CALLED ON NULL INPUT STABLE;
COMMENT ON FUNCTION query(text, timestamptz, text) IS
    'evaluate a PromQL expression at one time (Prometheus /api/v1/query)';

-- Range query: one row per series per step that has a value, series ordered
-- by labels; scalar expressions come back as the series {}.
CREATE FUNCTION query_range(query text, start timestamptz, "end" timestamptz, step interval,
                            tenant text DEFAULT NULL)
    RETURNS TABLE(labels jsonb, t timestamptz, value float8)
    AS 'MODULE_PATHNAME', 'mimir_query_range' LANGUAGE C CALLED ON NULL INPUT STABLE;
COMMENT ON FUNCTION query_range(text, timestamptz, timestamptz, interval, text) IS
    'evaluate a PromQL expression over [start, end] every step (Prometheus /api/v1/query_range)';
