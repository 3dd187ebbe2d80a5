-- query API: result types, JSON shapes and value formatting (Go's FormatFloat 'f' -1, +Inf/-Inf/NaN)
SET timezone = 'UTC';
SELECT count(mimir.write(format('qav{case="%s"}', c), '2024-01-01 00:00:00+00', v, 'qa-values'))
  FROM (VALUES ('one', 1), ('tenth', 0.1), ('big', 1e21), ('bigger', 123456789012345678901234567890),
               ('tiny', 0.000001), ('tinier', 1e-7), ('neg', -2.5), ('negzero', '-0'::float8),
               ('inf', 'Infinity'), ('ninf', '-Infinity'), ('nan', 'NaN'), ('max', 1.7976931348623157e308),
               ('min', 5e-324), ('third', 1.0/3), ('int', 100), ('e', 2.718281828459045),
               ('round', 0.30000000000000004), ('esc', 7)) AS v(c, v);
SELECT mimir.write('qav_labels{a="quote\"d",b="back\\slash",c="<tag>&",d="line\nbreak",e="tab\there",f="ünïcödé"}',
                   '2024-01-01 00:00:00+00', 1, 'qa-values');
SELECT count(mimir.write('qav_ts{}', '2024-01-01 00:00:00+00'::timestamptz + (ms || ' ms')::interval, ms, 'qa-values'))
  FROM unnest(ARRAY[1, 10, 100, 120, 999]) ms;

CREATE FUNCTION qav_q(params text) RETURNS text LANGUAGE sql AS $$
  SELECT status || ' ' || body FROM mimir.http_call('GET', '/api/v1/query', params, tenant => 'qa-values') $$;
CREATE FUNCTION qav_qr(params text) RETURNS text LANGUAGE sql AS $$
  SELECT status || ' ' || body FROM mimir.http_call('GET', '/api/v1/query_range', params, tenant => 'qa-values') $$;

-- one series per value: the JSON string of each
SELECT c, (SELECT qav_q('query=qav{case="' || c || '"}&time=1704067200')) FROM unnest(ARRAY['one', 'tenth', 'big', 'bigger',
  'tiny', 'tinier', 'neg', 'negzero', 'inf', 'ninf', 'nan', 'max', 'min', 'third', 'int', 'e', 'round']) c;
-- labels are escaped as Go's encoding/json does (HTML characters too)
SELECT qav_q('query=qav_labels&time=1704067200');
-- millisecond timestamps: always three decimals when not whole seconds
SELECT qav_q('query=qav_ts&time=' || t) FROM unnest(ARRAY['1704067200.001', '1704067200.01', '1704067200.1', '1704067200.12', '1704067200.999']) t;
SELECT qav_q('query=time()&time=-0.5');

-- result types
SELECT qav_q('query=2*3&time=1704067200');
SELECT qav_q('query=-Inf&time=1704067200');
SELECT qav_q('query="a string"&time=1704067200.5');
SELECT qav_q('query=qav_ts[1s]&time=1704067201');
SELECT qav_q('query=qav{case=~"one|int"}&time=1704067200');
SELECT qav_q('query=qav{case="nomatch"}&time=1704067200');
SELECT qav_q('query=vector(1)&time=1704067200');
-- instant queries keep sort()'s order; __name__ is dropped by functions
SELECT qav_q('query=sort_desc(qav{case=~"one|int|neg"})&time=1704067200');
SELECT qav_q('query=sort(qav{case=~"one|int|neg"})&time=1704067200');
SELECT qav_q('query=abs(qav{case="neg"})&time=1704067200');
-- limit truncates with a warning
SELECT qav_q('query=sort(qav{case=~"one|int|neg"})&time=1704067200&limit=2');
SELECT qav_q('query=sort(qav{case=~"one|int|neg"})&time=1704067200&limit=0');

-- range queries: matrices sorted by labels, points at start + k*step
SELECT qav_qr('query=qav{case=~"one|int"}&start=1704067200&end=1704067260&step=30');
SELECT qav_qr('query=1.5&start=1704067200&end=1704067230&step=15');
SELECT qav_qr('query=qav{case="nomatch"}&start=1704067200&end=1704067230&step=15');
SELECT qav_qr('query=qav{case=~"one|int"}&start=1704067200&end=1704067260&step=30&limit=1');

-- annotations become warnings/infos
SELECT qav_q('query=rate(qav{case="one"}[5m])&time=1704067200');

-- the tenant isolates: another tenant sees nothing
SELECT body FROM mimir.http_call('GET', '/api/v1/query', 'query=qav&time=1704067200', tenant => 'qa-values-other');

-- timeouts: the `timeout` parameter (or mimir.query_timeout) answers 503 "timeout"
SELECT status, body::jsonb->>'errorType' AS type, body::jsonb->>'error' LIKE 'query timed out in %' AS timed_out
  FROM mimir.http_call('GET', '/api/v1/query', 'query=count_over_time(vector(1)[400d:1s])&time=1704067200&timeout=0.05',
                       tenant => 'qa-values');
SET mimir.query_timeout = '50ms';
SELECT status, body::jsonb->>'errorType' AS type
  FROM mimir.http_call('GET', '/api/v1/query', 'query=count_over_time(vector(1)[400d:1s])&time=1704067200',
                       tenant => 'qa-values');
-- a larger timeout parameter does not lift the server's limit
SELECT status, body::jsonb->>'errorType' AS type
  FROM mimir.http_call('GET', '/api/v1/query', 'query=count_over_time(vector(1)[400d:1s])&time=1704067200&timeout=1h',
                       tenant => 'qa-values');
RESET mimir.query_timeout;
-- the session is usable afterwards
SELECT qav_q('query=1&time=1704067200');

-- Go's FormatFloat('f', -1) on 2000 pseudo-random doubles (normal and subnormal): the string
-- reads back as the same double, laid out without exponent, with no more significant digits
-- than PostgreSQL's shortest output. Go (like Python's repr) may use one digit fewer when the
-- shortest candidate lies exactly on the rounding boundary of a double with an even mantissa,
-- which Go accepts and PostgreSQL's Ryu does not: those are counted separately.
SELECT setseed(0.42);
CREATE TEMP TABLE qav_doubles AS
SELECT CASE WHEN i % 10 = 0 THEN random() * 1e-310
            ELSE (random() - 0.5) * power(10::float8, floor(random() * 600 - 300)) END AS x
  FROM generate_series(1, 2000) i;
CREATE FUNCTION qav_digits(s text) RETURNS int LANGUAGE sql AS $$
  SELECT length(trim(BOTH '0' FROM regexp_replace(s, '[-.]', '', 'g'))) $$;
SELECT count(*) AS checked,
       count(*) FILTER (WHERE got !~ '^-?[0-9]+(\.[0-9]+)?$') AS not_positional,
       count(*) FILTER (WHERE got::float8 <> x) AS not_round_trip,
       count(*) FILTER (WHERE qav_digits(got) > qav_digits(want)) AS longer_than_shortest,
       count(*) FILTER (WHERE qav_digits(got) < qav_digits(want)) AS boundary_ties
  FROM (SELECT x, (body::jsonb #>> '{data,result,0,value,1}') AS got, (x::text)::numeric::text AS want
          FROM qav_doubles,
               mimir.http_call('GET', '/api/v1/query', 'query=vector(' || replace(x::text, '+', '%2B') || ')&time=1',
                               tenant => 'qa-values')
         WHERE x <> 0) s;
-- the tie above: both strings read back as the same double; Go and Python print the shorter
SELECT (body::jsonb #>> '{data,result,0,value,1}') AS go_format, '-2.8799000213961912e+16'::float8::text AS postgres
  FROM mimir.http_call('GET', '/api/v1/query', 'query=vector(-2.8799000213961912e%2B16)&time=1', tenant => 'qa-values');
