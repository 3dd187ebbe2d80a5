-- query API: routing, methods, parameters (times, durations, limits, forms) and their errors
SET timezone = 'UTC';
SELECT count(mimir.write('qap_up{job="a"}', '2024-01-01 00:00:00+00'::timestamptz + (i || ' s')::interval, i, 'qa-params'))
  FROM generate_series(0, 600, 15) i;
CREATE FUNCTION qap_call(method text, path text, params text, body text DEFAULT NULL)
RETURNS TABLE(status int, body text) LANGUAGE sql AS $$
  SELECT status, body FROM mimir.http_call(method, path, params, convert_to(body, 'UTF8'), 'qa-params') $$;

-- routes, with and without Mimir's /prometheus prefix
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260');
SELECT * FROM qap_call('GET', '/prometheus/api/v1/query', 'query=qap_up&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query?query=qap_up&time=1704067260', NULL);
SELECT * FROM qap_call('GET', '/api/v1/nope', '');
SELECT * FROM qap_call('GET', '/prometheus/api/v1/', '');
SELECT * FROM qap_call('GET', '/prometheus', '');
SELECT * FROM qap_call('DELETE', '/api/v1/query', 'query=qap_up');
SELECT * FROM qap_call('PUT', '/api/v1/query_range', '');
SELECT * FROM qap_call('POST', '/api/v1/label/job/values', '');
SELECT * FROM qap_call('GET', '/api/v1/read', '');

-- time: Unix seconds (float, rounded to the millisecond) or RFC 3339
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=1704067260.1234');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=1704067260.9996');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-01-01T00:01:00Z');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-01-01T00:01:00.5%2B01:00');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-01-01T02:01:00.123456789-02:00');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=-1.5');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=1e9');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=abc');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-13-01T00:00:00Z');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-02-30T00:00:00Z');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=2024-01-01 00:00:00');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=NaN');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=Inf');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=time()&time=%20123');

-- query_range parameters, in Prometheus' order, with its messages
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067100&step=15');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067300');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067300&step=0');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067300&step=-15s');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067300&step=1x');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067300&step=1e300');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=0&end=11001&step=1');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=0&end=11000&step=1') LIMIT 0;
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up[5m]&start=1704067200&end=1704067300&step=60');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query="s"&start=1704067200&end=1704067300&step=60');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=sum(qap_up&start=1704067200&end=1704067300&step=60');
-- step as a duration or float seconds; end = start is one point
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067260&step=1m');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067260&step=30.5');
SELECT * FROM qap_call('GET', '/api/v1/query_range', 'query=qap_up&start=1704067200&end=1704067200&step=1h30m');

-- timeout: a duration, or float seconds
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&timeout=5s');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&timeout=0.5');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&timeout=soon');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&timeout=1e20');

-- limit
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&limit=x');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&limit=-1');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up&time=1704067260&limit=99999999999');

-- URL encoding: %XX and '+', bad escapes, repeated keys (the first wins)
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up%7Bjob%3D%22a%22%7D+%2B+1&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up%zz&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up%2&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=1;time=1');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=1&query=2&time=1704067260');

-- POST forms (Grafana's default): body values take precedence over the URL
SELECT * FROM qap_call('POST', '/api/v1/query', 'time=1', 'query=qap_up&time=1704067260');
SELECT * FROM qap_call('POST', '/api/v1/query_range', '', 'query=qap_up&start=1704067200&end=1704067230&step=15');
SELECT * FROM qap_call('POST', '/api/v1/query', '', 'query=qap_up%zz');
SELECT status, body FROM mimir.http_call('POST', '/api/v1/query', 'query=1&time=1704067260', convert_to('query=2', 'UTF8'),
                                         'qa-params', 'text/plain');

-- parse errors name the position
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=sum(qap_up&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=qap_up{job=~"("}&time=1704067260');
SELECT * FROM qap_call('GET', '/api/v1/query', 'query=rate(qap_up)&time=1704067260');

-- format_query
SELECT * FROM qap_call('GET', '/api/v1/format_query', 'query=sum+by(job)(rate(qap_up[5m]))');
SELECT * FROM qap_call('POST', '/api/v1/format_query', '', 'query=a+%2B+on(b)+group_left(c)+d+offset+5m');
SELECT * FROM qap_call('GET', '/api/v1/format_query', 'query=sum(');

-- status endpoints
SELECT * FROM qap_call('GET', '/api/v1/status/buildinfo', '');
SELECT * FROM qap_call('GET', '/prometheus/api/v1/status/config', '');
SELECT * FROM qap_call('GET', '/prometheus/api/v1/status/flags', '');

-- SQL misuse gets a SQL error with a hint
SELECT * FROM mimir.http_call(NULL, '/api/v1/query');
SELECT * FROM mimir.http_call('GET', '/api/v1/query', 'query=1', tenant => 'bad/tenant');
