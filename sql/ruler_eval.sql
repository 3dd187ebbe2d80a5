-- Rule evaluation at explicit timestamps against known data: recording rules,
-- the alert state machine (pending -> firing -> resolved, keep_firing_for,
-- limit), ALERTS / ALERTS_FOR_STATE, staleness markers, query_offset and
-- notifications queued for Alertmanager.
SET mimir.tenant = 'ruler_eval';
SET timezone = 'UTC';
-- notifications are queued only when an Alertmanager is configured
SET mimir.alertmanager_url = 'http://127.0.0.1:9';

-- three targets scraped every 15s for 10 minutes; i1 is down from 2m to 5m
SELECT count(mimir.write(format('up{job="api",instance="i%s"}', i), to_timestamp(0) + t * interval '15 s',
                         CASE WHEN i = 1 AND t BETWEEN 8 AND 20 THEN 0 ELSE 1 END))
  FROM generate_series(1, 3) i, generate_series(0, 40) t;

CREATE FUNCTION ev(g text, secs int) RETURNS TABLE(rule text, kind text, labels jsonb, value float8, state text, error text)
LANGUAGE sql AS $$ SELECT * FROM mimir.evaluate_rule_group('ns', g, to_timestamp(secs)) ORDER BY 1, 3::text $$;
-- the rule-written series, stale markers shown as "stale"
CREATE FUNCTION written(sel text) RETURNS TABLE(labels jsonb, secs int, value text)
LANGUAGE sql AS $$
  SELECT labels, extract(epoch FROM t)::int,
         CASE WHEN float8send(value) = float8send(mimir.stale_marker()) THEN 'stale' ELSE value::text END
    FROM mimir.samples(sel, to_timestamp(0), to_timestamp(100000)) ORDER BY labels::text, t $$;

SELECT mimir.set_rule_group('ns', $$
name: g
interval: 15s
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels:
      source: rule
  - alert: InstanceDown
    expr: up == 0
    for: 30s
    labels:
      severity: page
      team: "{{ $labels.job }}-team"
    annotations:
      summary: "{{ $labels.instance }} down, value {{ $value }}, {{ humanizeDuration 90 }}"
$$);

SELECT * FROM ev('g', 60);      -- all up
SELECT * FROM ev('g', 120);     -- i1 down: pending
SELECT * FROM ev('g', 135);     -- still pending (15s < for)
SELECT * FROM ev('g', 150);     -- 30s: firing
SELECT * FROM ev('g', 300);     -- firing
SELECT * FROM ev('g', 315);     -- back up: resolved (inactive, kept for 15 minutes)
SELECT * FROM ev('g', 330);
SELECT * FROM written('{__name__=~"ALERTS|ALERTS_FOR_STATE"}');
SELECT * FROM written('job:up:sum');
SELECT rule, labels, annotations, state, active_at, fired_at, resolved_at, value FROM mimir.alerts();

-- notifications: firing when it fired, resolved once with endsAt = resolve time
SELECT resolved, alert->'labels' AS labels, alert->'annotations' AS annotations, alert->>'startsAt' AS starts,
       alert->>'endsAt' AS ends, alert->>'generatorURL' AS url
  FROM mimir.alert_outbox ORDER BY id;

-- the state is in tables: a new session carries on
\c
SET mimir.tenant = 'ruler_eval';
SET timezone = 'UTC';
SET mimir.alertmanager_url = 'http://127.0.0.1:9';
SELECT * FROM ev('g', 345);
-- resolved alerts are dropped 15 minutes after resolving
SELECT * FROM ev('g', 315 + 15 * 60 + 1);
SELECT count(*) FROM mimir.alerts();
-- evaluation times must move forward
SELECT * FROM ev('g', 100);
SELECT * FROM mimir.evaluate_rule_group('ns', 'nope');

-- firing alerts are re-sent every minute (mimir.ruler_resend_delay), an undelivered
-- firing notification is superseded by the newer one, endsAt = 4 x max(interval, resend delay) ahead
DELETE FROM mimir.alert_outbox;
SELECT count(mimir.write('errors_total{job="api"}', to_timestamp(2000) + t * interval '15 s', t))
  FROM generate_series(0, 40) t;
SELECT mimir.set_rule_group('ns', $$
name: resend
interval: 15s
rules:
  - alert: Errors
    expr: errors_total > 0
$$);
SELECT * FROM ev('resend', 2015);
SELECT * FROM ev('resend', 2030);
SELECT * FROM ev('resend', 2045);
SELECT count(*) AS queued, max(alert->>'startsAt') AS starts, max(alert->>'endsAt') AS ends FROM mimir.alert_outbox;
SELECT * FROM ev('resend', 2090);
SELECT count(*) AS queued, max(alert->>'startsAt') AS starts, max(alert->>'endsAt') AS ends FROM mimir.alert_outbox;
UPDATE mimir.alert_outbox SET delivered = '{http://127.0.0.1:9}';
SELECT * FROM ev('resend', 2160);
SELECT count(*) AS queued FROM mimir.alert_outbox;

-- keep_firing_for holds a firing alert after its condition clears
SELECT count(mimir.write('flappy{job="x"}', to_timestamp(4000) + t * interval '15 s',
                         CASE WHEN t IN (1, 2, 3, 6) THEN 1 ELSE 0 END))
  FROM generate_series(0, 20) t;
SELECT mimir.set_rule_group('ns', $$
name: kff
interval: 15s
rules:
  - alert: Flappy
    expr: flappy > 0
    keep_firing_for: 30s
$$);
SELECT s, (SELECT string_agg(state || coalesce(' ' || error, ''), ',') FROM ev('kff', s)) AS states
  FROM generate_series(4015, 4135, 15) s;

-- limit: more series (or alerts) than allowed fail the rule, nothing is written;
-- the other rules of the group still run
SELECT mimir.set_rule_group('ns', $$
name: limited
interval: 15s
limit: 2
rules:
  - record: up:copy
    expr: up
  - alert: AllUp
    expr: up == 1
  - record: one
    expr: vector(1)
$$);
SELECT * FROM ev('limited', 60);
SELECT count(*) FROM mimir.samples('up:copy', to_timestamp(0), to_timestamp(100000));
SELECT name, health, last_error FROM mimir.rules() WHERE group_name = 'limited';
SELECT name, health, last_error FROM mimir.rule_groups() WHERE name = 'limited';

-- rule errors: duplicate label sets, results that are not vectors, bad queries at run time
SELECT mimir.set_rule_group('ns', $$
name: errors
rules:
  - record: dup
    expr: up
    labels:
      instance: same
  - alert: Dup
    expr: up
    labels:
      instance: same
  - record: str
    expr: '"text"'
  - record: matrix
    expr: up[1m]
  - record: scalar
    expr: scalar(sum(up))
$$);
SELECT * FROM ev('errors', 60);

-- query_offset: queries look back, samples are written at the shifted time
SELECT mimir.set_rule_group('ns', $$
name: offset
interval: 15s
query_offset: 1m
rules:
  - record: up:offset
    expr: sum(up)
  - alert: DownOffset
    expr: up == 0
$$);
SELECT * FROM ev('offset', 180);
SELECT * FROM written('{__name__=~"up:offset|ALERTS", alertname=~"|DownOffset"}');

-- templates can query: the value of another series at the evaluation time
SELECT mimir.set_rule_group('ns', $$
name: tmplquery
rules:
  - alert: WithQuery
    expr: up{instance="i2"} == 1
    annotations:
      total: '{{ with query "sum(up)" }}{{ . | first | value }}{{ end }} targets up, {{ query "count(up)" | first | value | printf "%.0f" }} known'
      bad: '{{ query "sum(" }}'
      err: '{{ humanize "x" }}'
$$);
SELECT rule, labels, state FROM ev('tmplquery', 150);
SELECT annotations FROM mimir.alerts() WHERE rule = 'WithQuery';

-- replacing a group keeps the state of rules with the same name and labels;
-- series of removed rules get staleness markers at the next evaluation
SELECT mimir.set_rule_group('ns', $$
name: repl
interval: 15s
rules:
  - record: errors:x2
    expr: errors_total * 2
  - alert: ManyErrors
    expr: errors_total > 5
    for: 1m
$$);
SELECT * FROM ev('repl', 2100);
SELECT mimir.set_rule_group('ns', $$
name: repl
interval: 15s
rules:
  - alert: ManyErrors
    expr: errors_total > 5
    for: 1m
    annotations:
      note: changed
$$);
SELECT * FROM ev('repl', 2115);
SELECT * FROM ev('repl', 2160);
SELECT * FROM written('errors:x2');
SELECT rule, state, active_at, annotations FROM mimir.alerts() WHERE group_name = 'repl';

-- deleting a group marks its series stale (now)
SELECT mimir.delete_rule_group('ns', 'repl');
SELECT count(*) FILTER (WHERE float8send(value) = float8send(mimir.stale_marker())) AS stale_markers
  FROM mimir.samples('{__name__="ALERTS", alertname="ManyErrors"}', to_timestamp(0), now() + interval '1 hour');
SELECT count(*) FROM mimir.alerts() WHERE group_name = 'repl';
