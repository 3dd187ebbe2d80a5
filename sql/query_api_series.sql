-- query API: series, labels, label values, metadata, exemplars, cardinality, remote read errors, limits
SET timezone = 'UTC';
SELECT count(mimir.write(s, '2024-01-01 00:00:00+00', 1, 'qa-series')) FROM unnest(ARRAY[
  'qas_up{job="api",instance="a:1"}', 'qas_up{job="api",instance="b:1"}', 'qas_up{job="db",instance="c:1"}',
  'qas_http_total{job="api",code="200"}', 'qas_http_total{job="api",code="500"}', 'qas_other{env=""}']) s;
SELECT mimir.write('qas_late{job="late"}', '2024-01-02 00:00:00+00', 1, 'qa-series');
CREATE FUNCTION qas_call(method text, path text, params text, body text DEFAULT NULL)
RETURNS TABLE(status int, body text) LANGUAGE sql AS $$
  SELECT status, body FROM mimir.http_call(method, path, params, convert_to(body, 'UTF8'), 'qa-series') $$;

-- series: match[] is required, repeated selectors are merged, sorted, deduplicated
SELECT * FROM qas_call('GET', '/api/v1/series', '');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up{job="api"}&match[]=qas_up&match[]=qas_http_total{code=~"5.."}');
SELECT * FROM qas_call('POST', '/api/v1/series', '', 'match%5B%5D=qas_up%7Bjob%3D%22db%22%7D');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]={__name__=~"qas_.*",job!="api"}');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up&limit=2');
-- with a time range only series with samples in it
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]={__name__=~"qas_.*"}&start=2024-01-01T12:00:00Z&end=2024-01-02T12:00:00Z');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]={__name__=~"qas_.*"}&start=1704067200&end=1704067200');
-- errors
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up{');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]={job=~".*"}');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=rate(qas_up[5m])');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up&start=yesterday');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up&limit=many');

-- labels and label values (what Grafana's query builder calls)
SELECT * FROM qas_call('GET', '/api/v1/labels', '');
SELECT * FROM qas_call('POST', '/api/v1/labels', '', 'match[]=qas_http_total');
SELECT * FROM qas_call('GET', '/api/v1/labels', 'match[]=qas_up&match[]=qas_other');
SELECT * FROM qas_call('GET', '/api/v1/labels', 'limit=2');
SELECT * FROM qas_call('GET', '/api/v1/labels', 'match[]={job=""}');
SELECT * FROM qas_call('GET', '/api/v1/label/__name__/values', '');
SELECT * FROM qas_call('GET', '/api/v1/label/job/values', 'match[]=qas_up');
SELECT * FROM qas_call('GET', '/api/v1/label/job/values', 'start=2024-01-01T12:00:00Z&end=2024-01-03T00:00:00Z');
SELECT * FROM qas_call('GET', '/api/v1/label/instance/values', 'match[]=qas_up{job="api"}&limit=1');
SELECT * FROM qas_call('GET', '/api/v1/label/env/values', '');
SELECT * FROM qas_call('GET', '/api/v1/label/nosuchlabel/values', '');
SELECT * FROM qas_call('GET', '/prometheus/api/v1/label/bad-name/values', '');
SELECT * FROM qas_call('GET', '/api/v1/label/job/values', 'match[]=qas_up{');
SELECT * FROM qas_call('GET', '/api/v1/label//values', '');
-- a tenant that never wrote anything has no series
SELECT status, body FROM mimir.http_call('GET', '/api/v1/labels', '', tenant => 'qa-series-empty');

-- metadata (from remote write)
INSERT INTO mimir.tenants(name) VALUES ('qa-series-meta');
INSERT INTO mimir.metadata(tenant_id, metric, type, help, unit)
SELECT id, m, t, h, u FROM mimir.tenants, (VALUES
  ('qas_http_total', 'counter', 'HTTP requests.', ''),
  ('qas_up', 'gauge', 'Is it up?', ''),
  ('qas_up', 'gauge', 'Is it up (v2)?', ''),
  ('qas_bytes', 'GAUGE', 'Size.', 'bytes')) AS v(m, t, h, u) WHERE name = 'qa-series-meta';
CREATE FUNCTION qas_meta(params text) RETURNS text LANGUAGE sql AS $$
  SELECT status || ' ' || body FROM mimir.http_call('GET', '/api/v1/metadata', params, tenant => 'qa-series-meta') $$;
SELECT qas_meta('metric=qas_http_total');
SELECT qas_meta('metric=qas_bytes');
SELECT qas_meta('metric=nosuch');
SELECT qas_meta('limit=0');
SELECT qas_meta('limit=x');
SELECT qas_meta('limit_per_metric=x');
SELECT length(qas_meta('')) > 100 AS all_metrics;
SELECT qas_meta('metric=qas_up&limit_per_metric=1') LIKE '200 {"status":"success","data":{"qas_up":[{"type":"gauge",%}]}}' AS one_per_metric;

-- exemplars
INSERT INTO mimir.exemplars(tenant_id, series_id, t, value, labels)
SELECT s.tenant_id, s.id, 1704067200000 + k * 100, k * 0.5, jsonb_build_object('trace_id', 'abc' || k, 'span', 'x')
  FROM mimir.all_series() s JOIN mimir.tenants t ON t.id = s.tenant_id,
       generate_series(1, 2) k
 WHERE t.name = 'qa-series' AND s.labels && ARRAY(SELECT lp.id FROM mimir.label_pairs lp
                                                  WHERE lp.tenant_id = t.id AND lp.name = 'code');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=sum(rate(qas_http_total[5m]))&start=1704067200&end=1704067300');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=qas_http_total{code="500"}&start=1704067200.15&end=1704067300');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=qas_up');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=1');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=qas_up&start=10&end=5');
SELECT * FROM qas_call('GET', '/api/v1/query_exemplars', 'query=sum(');

-- Mimir's cardinality analysis
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', '');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', 'selector={job="api"}&limit=2');
SELECT * FROM qas_call('POST', '/prometheus/api/v1/cardinality/label_values', '', 'label_names[]=job&label_names[]=code&limit=1');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_values', 'label_names[]=job&selector=qas_up');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', 'limit=501');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', 'limit=-1');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', 'selector=sum(');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_values', '');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_values', 'label_names[]=bad-name');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/active_series', '');
SELECT mimir.set_limit('cardinality_analysis_enabled', 'false', 'qa-series');
SELECT * FROM qas_call('GET', '/api/v1/cardinality/label_names', '');
SELECT mimir.reset_limit('cardinality_analysis_enabled', 'qa-series');

-- remote read: malformed bodies are 400s
SELECT status, body FROM mimir.http_call('POST', '/api/v1/read', NULL, NULL, 'qa-series');
SELECT status, body FROM mimir.http_call('POST', '/api/v1/read', NULL, '\x00ffff'::bytea, 'qa-series');
SELECT status, body FROM mimir.http_call('POST', '/api/v1/read', NULL, '\x0308ffffff'::bytea, 'qa-series');

-- per-tenant query limits (Mimir's names and messages)
SELECT mimir.set_limit('max_fetched_series_per_query', '2', 'qa-series');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_up');
SELECT * FROM qas_call('GET', '/api/v1/series', 'match[]=qas_http_total');
SELECT * FROM qas_call('GET', '/api/v1/query', 'query=qas_up&time=1704067200');
SELECT * FROM qas_call('GET', '/api/v1/query', 'query=qas_http_total&time=1704067200');
SELECT mimir.reset_limit('max_fetched_series_per_query', 'qa-series');
SELECT mimir.set_limit('max_total_query_length', '1h', 'qa-series');
SELECT * FROM qas_call('GET', '/api/v1/query_range', 'query=qas_up&start=1704067200&end=1704070860&step=60');
SELECT * FROM qas_call('GET', '/api/v1/query_range', 'query=qas_up&start=1704067200&end=1704067260&step=60');
SELECT mimir.reset_limit('max_total_query_length', 'qa-series');
SELECT mimir.set_limit('max_query_expression_size_bytes', '10', 'qa-series');
SELECT * FROM qas_call('GET', '/api/v1/query', 'query=qas_http_total&time=1704067200');
SELECT mimir.reset_limit('max_query_expression_size_bytes', 'qa-series');
SELECT mimir.set_limit('max_query_lookback', '1d', 'qa-series');
SELECT * FROM qas_call('GET', '/api/v1/query', 'query=qas_up&time=1704067200');
SELECT mimir.reset_limit('max_query_lookback', 'qa-series');
SELECT mimir.set_limit('max_total_query_length', 'soon', 'qa-series');
SELECT name, default_value FROM mimir.limit_definitions
 WHERE name IN ('max_fetched_series_per_query', 'max_total_query_length', 'max_query_lookback',
                'max_labels_query_length', 'max_query_expression_size_bytes') ORDER BY name;
