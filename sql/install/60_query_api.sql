------------------------------------------------------------------------
-- query API: per-tenant query limits, the HTTP API from SQL, Grafana
------------------------------------------------------------------------
INSERT INTO limit_definitions VALUES
  ('max_fetched_series_per_query', 'int', '0', 'series one query may select (also series/labels requests); 0 = unlimited'),
  ('max_total_query_length', 'duration', '0s', 'longest end - start of a range query or remote read; 0 = unlimited'),
  ('max_query_lookback', 'duration', '0s', 'how far back queries may read; older parts of a query are cut off; 0 = unlimited'),
  ('max_labels_query_length', 'duration', '0s', 'longest time range of series, label names and label values requests (clamped); 0 = unlimited'),
  ('max_query_expression_size_bytes', 'int', '0', 'longest PromQL expression in bytes; 0 = unlimited'),
  ('cardinality_analysis_enabled', 'bool', 'true', 'serve /api/v1/cardinality/* for the tenant'),
  ('cardinality_analysis_max_results', 'int', '500', 'reserved: most entries a cardinality request may ask for');

-- Every query API endpoint, without HTTP: params is a URL query string
-- ('query=up&time=1700000000'), body a form-encoded (or protobuf, for
-- /api/v1/read) request body.
CREATE FUNCTION http_call_raw(method text, path text, params text DEFAULT NULL, body bytea DEFAULT NULL,
                              tenant text DEFAULT NULL, content_type text DEFAULT NULL)
    RETURNS TABLE(status int, content_type text, body bytea)
    AS 'MODULE_PATHNAME', 'mimir_http_call' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION http_call_raw(text, text, text, bytea, text, text) IS
  'answer one Prometheus HTTP API request (e.g. GET /api/v1/query) with status, content type and raw body';

CREATE FUNCTION http_call(method text, path text, params text DEFAULT NULL, body bytea DEFAULT NULL,
                          tenant text DEFAULT NULL, content_type text DEFAULT NULL)
    RETURNS TABLE(status int, content_type text, body text)
LANGUAGE sql VOLATILE AS $$
  SELECT r.status, r.content_type,
         CASE WHEN r.content_type LIKE 'application/x-protobuf%' THEN encode(r.body, 'base64')
              ELSE convert_from(r.body, 'UTF8') END
    FROM mimir.http_call_raw($1, $2, $3, $4, $5, $6) r $$;
COMMENT ON FUNCTION http_call(text, text, text, bytea, text, text) IS
  'answer one Prometheus HTTP API request; the body as text (base64 for protobuf answers)';

-- Grafana's PostgreSQL data source: a panel's PromQL as (time, metric, value)
-- rows sorted by time. In a panel:
--   SELECT * FROM mimir.grafana('sum by (job) (rate(x[5m]))', $__timeFrom(), $__timeTo(), '$__interval')
CREATE FUNCTION grafana(query text, "from" timestamptz, "to" timestamptz, step interval,
                        legend text DEFAULT NULL, tenant text DEFAULT NULL)
    RETURNS TABLE("time" timestamptz, metric text, value float8)
    AS 'MODULE_PATHNAME', 'mimir_grafana' LANGUAGE C CALLED ON NULL INPUT STABLE ROWS 1000;
COMMENT ON FUNCTION grafana(text, timestamptz, timestamptz, interval, text, text) IS
  'PromQL range query for Grafana panels: rows (time, metric, value) ordered by time; metric is the legend template rendered as Grafana does, or the label set';

CREATE FUNCTION grafana_legend(legend text, labels jsonb, query text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mimir_grafana_legend' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION grafana_legend(text, jsonb, text) IS
  'the series name Grafana shows for a label set: legend template ({{instance}}) rendered, or name{labels}';

-- Variable queries: label_values(label) / label_values(selector, label) /
-- metrics(regex), as (__text, __value) pairs.
CREATE FUNCTION grafana_label_values(label text, selector text DEFAULT NULL,
                                     "from" timestamptz DEFAULT NULL, "to" timestamptz DEFAULT NULL,
                                     tenant text DEFAULT NULL)
    RETURNS TABLE(__text text, __value text)
LANGUAGE sql STABLE AS $$
  SELECT v, v FROM mimir.label_values($1, $2, $3, $4, $5) v $$;
COMMENT ON FUNCTION grafana_label_values(text, text, timestamptz, timestamptz, text) IS
  'Grafana variable query: values of a label (optionally of the series matching a selector)';

CREATE FUNCTION grafana_metrics(regex text DEFAULT NULL, "from" timestamptz DEFAULT NULL,
                                "to" timestamptz DEFAULT NULL, tenant text DEFAULT NULL)
    RETURNS TABLE(__text text, __value text)
LANGUAGE sql STABLE AS $$
  SELECT v, v FROM mimir.label_values('__name__', NULL, $2, $3, $4) v
   WHERE $1 IS NULL OR v ~ ('^(?:' || $1 || ')$') $$;
COMMENT ON FUNCTION grafana_metrics(text, timestamptz, timestamptz, text) IS
  'Grafana variable query: metric names, optionally matching an (anchored) regular expression';
