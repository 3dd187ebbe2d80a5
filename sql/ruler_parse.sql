-- Rule groups: YAML decoding and validation as strict as promtool check rules,
-- storage, replacement and deletion.
SET mimir.tenant = 'ruler_parse';
\set VERBOSITY default

-- every validation error of promtool, with its position
SELECT mimir.set_rule_group('ns', $$
name: g1
interval: 15s
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: HighLoad
    expr: up == 0 +
    labels:
      severity: "{{ $labels.job }"
    annotations:
      summary: "{{ humanizeX $value }}"
  - record: "bad name"
    expr: up
    for: 5m
  - alert: X
    record: Y
    expr: up
    labels:
      __name__: x
      "1bad": y
  - alert: Z
    expr: ""
  - expr: up
  - record: "a{b}"
    expr: sum(
    keep_firing_for: 1m
    annotations:
      text: x
      "bad-name": y
$$);

-- decoding errors: unknown fields, wrong types, bad durations, bad YAML
SELECT mimir.set_rule_group('ns', $$
name: g1
foo: 1
limit: abc
rules:
  - record: x
    expr: up
    bar: 2
    labels: [a]
$$);
SELECT mimir.set_rule_group('ns', E'name: g\nrules:\n  - alert: a\n    expr: up\n    for: 5x\n');
SELECT mimir.set_rule_group('ns', E'name: g\ninterval: -1m\nrules: []\n');
SELECT mimir.set_rule_group('ns', E'name: g\nname: h\nrules: []\n');
SELECT mimir.set_rule_group('ns', 'groups: [');
SELECT mimir.set_rule_group('ns', E'name: ""\nrules: []\n');
SELECT mimir.set_rule_group('ns', E'name: g\nsource_tenants: [a, b]\nrules: []\n');
SELECT mimir.set_rule_group('ns', E'name: g\ninterval: 500ms\nrules: []\n');
SELECT mimir.set_rule_group('', E'name: g\nrules: []\n');
SELECT mimir.set_rule_group('ns', NULL);
SELECT mimir.set_rule_group('ns', E'name: g\nlimit: -3\nrules: []\n');

-- a valid group, stored as YAML and scheduled as one pg_cron job
SELECT mimir.set_rule_group('ns', $$
name: g1
interval: 15s
limit: 10
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels:
      team: a
  - alert: InstanceDown
    expr: up == 0
    for: 30s
    keep_firing_for: 1m
    labels:
      severity: "page-{{ $labels.job }}"
      number: 1
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})"
      empty:
$$);
SELECT namespace, name, "interval", rules, health, last_error,
       regexp_replace(job, 'ruler \d+ ', 'ruler <id> ') AS job FROM mimir.rule_groups();
SELECT definition FROM mimir.rule_groups g JOIN mimir.tenants t ON t.id = g.tenant_id
 WHERE t.name = 'ruler_parse';
SELECT idx, kind, r.name, expr, for_ms, keep_firing_for_ms, labels, annotations
  FROM mimir.rules r JOIN mimir.rule_groups g ON g.id = r.group_id
  JOIN mimir.tenants t ON t.id = g.tenant_id WHERE t.name = 'ruler_parse' ORDER BY idx;
SELECT regexp_replace(jobname, 'ruler \d+ ', 'ruler <id> ') AS jobname, schedule,
       command ~ '^CALL mimir.run_rule_group\(\d+\)$' AS runs_the_group
  FROM cron.job WHERE jobname LIKE 'mimir ruler % ruler_parse/%';

-- the stored YAML reads back as the same group
SELECT mimir.set_rule_group('ns2', definition) FROM mimir.rule_groups g JOIN mimir.tenants t ON t.id = g.tenant_id
 WHERE t.name = 'ruler_parse' AND g.namespace = 'ns';
SELECT a.definition = b.definition AS same
  FROM mimir.rule_groups a, mimir.rule_groups b, mimir.tenants t
 WHERE a.tenant_id = t.id AND b.tenant_id = t.id AND t.name = 'ruler_parse' AND a.namespace = 'ns' AND b.namespace = 'ns2';

-- a whole rule file: groups replace the namespace's (repeated and empty names are errors)
SELECT mimir.load_rules('file', $$
groups:
  - name: a
    rules:
      - record: x
        expr: vector(1)
  - name: a
    rules: []
  - name: ""
    rules: []
$$);
SELECT mimir.load_rules('file', E'name: a\nrules: []\n');
SELECT mimir.load_rules('file', $$
groups:
  - name: a
    rules:
      - record: x
        expr: vector(1)
  - name: b
    interval: 2m
    rules:
      - alert: Always
        expr: vector(1)
$$);
SELECT namespace, name, "interval", rules FROM mimir.rule_groups() WHERE namespace = 'file';
SELECT mimir.load_rules('file', $$
groups:
  - name: b
    rules: []
$$);
SELECT namespace, name, "interval", rules FROM mimir.rule_groups() WHERE namespace = 'file';
SELECT mimir.load_rules('empty', '');
-- groups are per tenant
SELECT count(*) FROM mimir.rule_groups('someone_else');

-- deletion takes the job along
SELECT mimir.delete_rule_group('ns2', 'g1');
SELECT mimir.delete_rule_group('ns2', 'g1');
SELECT mimir.delete_rule_group('nope', 'g1', 'no_such_tenant');
SELECT mimir.delete_rule_namespace('file');
SELECT namespace, name FROM mimir.rule_groups();
SELECT count(*) FROM cron.job WHERE jobname LIKE 'mimir ruler % ruler_parse/%';
