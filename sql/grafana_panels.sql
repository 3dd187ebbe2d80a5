-- Grafana's PostgreSQL data source: panel SQL after Grafana's macro expansion
-- ($__timeFrom()/$__timeTo() become quoted RFC 3339 UTC times, '$__interval' becomes e.g. '1m')
SET timezone = 'UTC';
SET mimir.tenant = 'qa-grafana';
SELECT count(mimir.write(format('node_cpu_seconds_total{instance="%s",mode="%s",job="node"}', i, m),
                         '2024-01-01 00:00:00+00'::timestamptz + (s || ' s')::interval,
                         s * CASE m WHEN 'idle' THEN 0.9 ELSE 0.1 END * CASE i WHEN 'host-a:9100' THEN 1 ELSE 2 END))
  FROM unnest(ARRAY['host-a:9100', 'host-b:9100']) i, unnest(ARRAY['idle', 'user']) m, generate_series(0, 1800, 15) s;
SELECT count(mimir.write(format('qag_up{instance="%s",job="node"}', i), '2024-01-01 00:00:00+00'::timestamptz + (s || ' s')::interval, 1))
  FROM unnest(ARRAY['host-a:9100', 'host-b:9100']) i, generate_series(0, 1800, 15) s;

-- README panel: SELECT * FROM mimir.grafana('sum by (job) (rate(x[5m]))', $__timeFrom(), $__timeTo(), '$__interval')
SELECT * FROM mimir.grafana('sum by (job) (rate(node_cpu_seconds_total[5m]))', '2024-01-01T00:10:00Z', '2024-01-01T00:15:00Z', '1m');
-- legend templates, rendered as Grafana does ({{ x }} with blanks; unknown labels show their name)
SELECT * FROM mimir.grafana('rate(node_cpu_seconds_total{mode="user"}[5m])', '2024-01-01T00:10:00Z', '2024-01-01T00:12:00Z', '1m', '{{instance}} {{ mode }}');
SELECT * FROM mimir.grafana('rate(node_cpu_seconds_total{mode="user"}[5m])', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '1m', '{{instance}}/{{nosuch}}{{}}{{ }}');
-- without a legend: the label set as Grafana names it; expressions without labels: the query
SELECT * FROM mimir.grafana('qag_up', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '1m');
SELECT * FROM mimir.grafana('sum(qag_up)', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '1m');
SELECT * FROM mimir.grafana('2 * 21', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '30s');
-- the range is aligned to the step, as Grafana's Prometheus data source does
SELECT min(time), max(time), count(*) FROM mimir.grafana('qag_up{instance="host-a:9100"}', '2024-01-01T00:10:07Z', '2024-01-01T00:20:59Z', '5m');
-- rows are sorted by time (Grafana rejects unsorted "long" frames)
SELECT bool_and(ok) AS sorted FROM (SELECT time >= lag(time, 1, '-infinity') OVER () AS ok
  FROM mimir.grafana('rate(node_cpu_seconds_total[5m])', '2024-01-01T00:05:00Z', '2024-01-01T00:30:00Z', '15s')) s;

-- the thing no other metrics store can do: join PromQL results with an ordinary table
CREATE TABLE hosts(instance text PRIMARY KEY, owner text, team text);
INSERT INTO hosts VALUES ('host-a:9100', 'alice', 'web'), ('host-b:9100', 'bob', 'db');
-- panel "CPU by owner" (time series)
SELECT g.time, h.owner AS metric, g.value
  FROM mimir.grafana('sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
                     '2024-01-01T00:10:00Z', '2024-01-01T00:12:00Z', '1m', '{{instance}}') g
  JOIN hosts h ON h.instance = g.metric
 ORDER BY g.time, h.owner;
-- panel "busiest team now" (table), through mimir.query
SELECT h.team, round(sum(q.value)::numeric, 4) AS cpu
  FROM mimir.query('rate(node_cpu_seconds_total{mode!="idle"}[5m])', '2024-01-01T00:20:00Z') q
  JOIN hosts h ON h.instance = q.labels->>'instance'
 GROUP BY h.team ORDER BY cpu DESC;

-- variable queries: (__text, __value)
SELECT * FROM mimir.grafana_label_values('instance');
SELECT * FROM mimir.grafana_label_values('mode', 'node_cpu_seconds_total{instance="host-a:9100"}');
SELECT * FROM mimir.grafana_metrics();
SELECT * FROM mimir.grafana_metrics('node_.*');
-- the legend renderer alone
SELECT mimir.grafana_legend('{{instance}} {{mode}}', '{"instance": "a", "mode": "idle"}');
SELECT mimir.grafana_legend(NULL, '{"__name__": "up", "job": "x", "instance": "a"}');
SELECT mimir.grafana_legend('', '{}', 'sum(up)');
SELECT mimir.grafana_legend('__auto', '{"job": "x"}');
SELECT mimir.grafana_legend('{{ job }}', '[1]');

-- bad input: SQL errors with hints
SELECT * FROM mimir.grafana('sum(', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '1m');
SELECT * FROM mimir.grafana('up', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '0s');
SELECT * FROM mimir.grafana('up', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', '1 mon');
SELECT * FROM mimir.grafana('up', '2024-01-01T00:10:00Z', '2024-01-01T00:00:00Z', '1m');
SELECT * FROM mimir.grafana('up', '2024-01-01T00:00:00Z', '2024-12-01T00:00:00Z', '1s');
SELECT * FROM mimir.grafana('up', NULL, '2024-01-01T00:00:00Z', '1m');
SELECT * FROM mimir.grafana('up', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', $$1m$$, NULL, 'bad/tenant');
-- $__interval unquoted is not an interval: the reason to quote it
SELECT * FROM mimir.grafana('up', '2024-01-01T00:10:00Z', '2024-01-01T00:11:00Z', 1m);
RESET mimir.tenant;
