------------------------------------------------------------------------
-- SQL API
------------------------------------------------------------------------
CREATE FUNCTION write(series text, t timestamptz, v float8, tenant text DEFAULT NULL)
    RETURNS void AS 'MODULE_PATHNAME', 'mimir_write' LANGUAGE C CALLED ON NULL INPUT;
CREATE FUNCTION stale_marker() RETURNS float8
    AS 'MODULE_PATHNAME', 'mimir_stale_marker' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION samples(selector text, start timestamptz, "end" timestamptz, tenant text DEFAULT NULL)
    RETURNS TABLE(labels jsonb, t timestamptz, value float8)
    AS 'MODULE_PATHNAME', 'mimir_samples' LANGUAGE C CALLED ON NULL INPUT STABLE;
CREATE FUNCTION series(selector text, start timestamptz, "end" timestamptz, tenant text DEFAULT NULL)
    RETURNS TABLE(labels jsonb)
    AS 'MODULE_PATHNAME', 'mimir_series' LANGUAGE C CALLED ON NULL INPUT STABLE;
CREATE FUNCTION label_names(selector text DEFAULT NULL, start timestamptz DEFAULT NULL,
                            "end" timestamptz DEFAULT NULL, tenant text DEFAULT NULL)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mimir_label_names' LANGUAGE C CALLED ON NULL INPUT STABLE;
CREATE FUNCTION label_values(name text, selector text DEFAULT NULL, start timestamptz DEFAULT NULL,
                             "end" timestamptz DEFAULT NULL, tenant text DEFAULT NULL)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mimir_label_values' LANGUAGE C CALLED ON NULL INPUT STABLE;
CREATE FUNCTION cut_head(max_rows int DEFAULT 1000) RETURNS int
    AS 'MODULE_PATHNAME', 'mimir_cut_head' LANGUAGE C STRICT;
COMMENT ON FUNCTION cut_head(int) IS 'cut committed head batches into chunks now; returns the number of batches processed';
