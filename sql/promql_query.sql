-- mimir.query / mimir.query_range: the SQL contract of the PromQL engine
SET timezone = 'UTC';
SET mimir.tenant = 'promql-query';

-- 10 minutes of data every 15 s from 2024-01-01 00:00
SELECT count(mimir.write(s, '2024-01-01'::timestamptz + make_interval(secs => i * 15), v))
  FROM generate_series(0, 40) i,
  LATERAL (VALUES
    ('http_requests_total{job="api",instance="a",code="200"}', i * 10.0),
    ('http_requests_total{job="api",instance="b",code="200"}', i * 20.0),
    ('http_requests_total{job="api",instance="a",code="500"}', i * 1.0),
    ('http_requests_total{job="web",instance="c",code="200"}', i * 5.0),
    ('temperature{room="kitchen"}', 20 + (i % 4)),
    ('temperature{room="hall"}', 18 - (i % 3))) AS d(s, v);

-- an instant vector: one row per series, with __name__, at the evaluation time
SELECT * FROM mimir.query('http_requests_total{job="api"}', '2024-01-01 00:05:00');
-- functions drop the name
SELECT * FROM mimir.query('rate(http_requests_total{code="200"}[1m])', '2024-01-01 00:05:00');
-- result order is visible: sort, sort_desc, topk, bottomk
SELECT labels->>'instance' AS instance, labels->>'code' AS code, value
  FROM mimir.query('sort_desc(http_requests_total)', '2024-01-01 00:05:00');
SELECT labels->>'instance' AS instance, labels->>'code' AS code, value
  FROM mimir.query('sort(http_requests_total)', '2024-01-01 00:05:00');
SELECT labels, value FROM mimir.query('topk(2, http_requests_total)', '2024-01-01 00:05:00');
SELECT labels, value FROM mimir.query('bottomk(1, temperature)', '2024-01-01 00:05:00');
-- aggregations, vector matching
SELECT * FROM mimir.query('sum by (job) (rate(http_requests_total[2m]))', '2024-01-01 00:05:00') ORDER BY labels::text;
SELECT * FROM mimir.query('sum without (instance, code) (http_requests_total) / on(job) group_left count by (job) (http_requests_total)',
                          '2024-01-01 00:05:00') ORDER BY labels::text;
SELECT * FROM mimir.query('http_requests_total{code="500"} / ignoring(code) http_requests_total{code="200"}',
                          '2024-01-01 00:05:00');
SELECT labels, value FROM mimir.query('count_values("temp", temperature)', '2024-01-01 00:05:00') ORDER BY labels::text;
SELECT count(mimir.write(format('latency_seconds_bucket{job="api",le="%s"}', le), '2024-01-01'::timestamptz + make_interval(secs => i * 15), i * c))
  FROM generate_series(0, 40) i, (VALUES ('0.1', 1), ('0.5', 3), ('1', 4), ('+Inf', 5)) b(le, c);
SELECT * FROM mimir.query('histogram_quantile(0.5, rate(latency_seconds_bucket[1m]))', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[1m])))', '2024-01-01 00:05:00');

-- a scalar: one row with NULL labels
SELECT * FROM mimir.query('1 + 2 * 3', '2024-01-01 00:05:00');
SELECT labels IS NULL AS no_labels, value FROM mimir.query('scalar(sum(temperature))', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('time()', '2024-01-01 00:05:00');
-- a string: labels holds the JSON string
SELECT * FROM mimir.query('"hello"', '2024-01-01 00:05:00');
-- a range vector: one row per sample (left-open, right-closed window)
SELECT * FROM mimir.query('temperature{room="hall"}[1m]', '2024-01-01 00:05:00');
-- subquery
SELECT * FROM mimir.query('max_over_time(deriv(temperature{room="kitchen"}[1m])[2m:30s])', '2024-01-01 00:05:00');
-- offset and @
SELECT * FROM mimir.query('temperature{room="kitchen"} offset 1m', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('temperature{room="kitchen"} @ 1704067230', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('timestamp(temperature{room="kitchen"} @ 1704067230)', '2024-01-01 00:09:00');
-- lookback: the last sample is at 00:10:00, found until 00:15:00 exclusive
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:14:59.999');
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:15:00');
-- absent
SELECT * FROM mimir.query('absent(nonexistent{job="x"})', '2024-01-01 00:05:00');

-- range queries: one row per series per step, series ordered by labels
SELECT * FROM mimir.query_range('sum by (code) (http_requests_total)', '2024-01-01 00:00:00',
                                '2024-01-01 00:02:00', '1 minute');
SELECT * FROM mimir.query_range('temperature > 19', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '15 seconds');
-- scalars come back as the series {}
SELECT * FROM mimir.query_range('time() - 1704067200', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '30 seconds');
-- steps without data leave no row
SELECT count(*) FROM mimir.query_range('temperature', '2024-01-01 00:10:00', '2024-01-01 00:20:00', '1 minute');

-- staleness markers end a series at once
SELECT mimir.write('stale_test', '2024-01-01 00:00:00', 1);
SELECT mimir.write('stale_test', '2024-01-01 00:00:30', mimir.stale_marker());
SELECT t, value FROM mimir.query_range('stale_test', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '15 seconds');

-- tenants: the argument overrides mimir.tenant; unknown tenants have no data
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:05:00', 'promql-query');
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:05:00', 'promql-nobody');
SELECT mimir.write('temperature{room="attic"}', '2024-01-01 00:05:00', 30, 'promql-other');
SELECT labels, value FROM mimir.query('temperature', '2024-01-01 00:05:00', 'promql-other');

-- errors
SELECT * FROM mimir.query('sum(rate(x[5m])', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('http_requests_total + on(job) http_requests_total', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('http_requests_total * on(job) group_left temperature', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('label_replace(http_requests_total, "code", "", "", "")', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('label_replace(temperature, "x", "", "room", "(")', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('label_replace(temperature, "1x", "", "room", ".*")', '2024-01-01 00:05:00');
SELECT * FROM mimir.query('topk(NaN, temperature)', '2024-01-01 00:05:00');
SELECT * FROM mimir.query_range('temperature[1m]', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '1 minute');
SELECT * FROM mimir.query_range('temperature', '2024-01-01 00:01:00', '2024-01-01 00:00:00', '1 minute');
SELECT * FROM mimir.query_range('temperature', '2024-01-01 00:00:00', '2024-01-01 00:01:00', '0');
SELECT * FROM mimir.query_range('temperature', '2024-01-01 00:00:00', '2024-01-02 00:00:00', '1 second');
SELECT * FROM mimir.query_range('temperature', '2024-01-01 00:00:00', '2024-01-02 00:00:00', '1 month');
SELECT * FROM mimir.query(NULL, '2024-01-01 00:05:00');
SELECT * FROM mimir.query('up', NULL);

-- GUCs
SHOW mimir.lookback_delta;
SHOW mimir.query_max_samples;
SHOW mimir.query_timeout;
SET mimir.lookback_delta = '10s';
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:10:09');
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:10:10');
RESET mimir.lookback_delta;
SET mimir.query_max_samples = 100;
SELECT count(*) FROM mimir.query('temperature', '2024-01-01 00:05:00');
SELECT count(*) FROM mimir.query_range('temperature', '2024-01-01 00:00:00', '2024-01-01 00:10:00', '15 seconds');
RESET mimir.query_max_samples;
SET mimir.query_timeout = '1ms';
SELECT count(*) FROM mimir.query('count_over_time(temperature[30d:1s])', '2024-01-01 00:05:00');
RESET mimir.query_timeout;
\set VERBOSITY terse
SET statement_timeout = '1ms';
SELECT count(*) FROM mimir.query('count_over_time(count_over_time(temperature[1m])[40d:1s])', '2024-01-01 00:05:00');
RESET statement_timeout;
\set VERBOSITY default
