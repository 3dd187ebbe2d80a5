-- Scheduling: one pg_cron job per rule group, evaluation slots aligned as
-- Prometheus aligns them, catching up within the window, missed slots after
-- downtime skipped; mimir's pg_cron jobs installed and listed.
SET mimir.tenant = 'ruler_schedule';
SET timezone = 'UTC';

-- Prometheus 2.42 evaluated group "g" (10s) of rule file /tmp/ruler_prom/rules.yml at
-- offset 2.717s of each 10s, and "other group" (15s) at 14.321s: the namespace plays
-- the file, so the same group evaluates at the same timestamps here.
SELECT mimir.set_rule_group('/tmp/ruler_prom/rules.yml', E'name: g\ninterval: 10s\nrules: []\n');
SELECT mimir.set_rule_group('/tmp/ruler_prom/rules.yml', E'name: other group\ninterval: 15s\nrules: []\n');
SELECT name, mimir.rule_group_slot('/tmp/ruler_prom/rules.yml', name, '2023-11-14 22:13:20+00') AS slot,
       (extract(epoch FROM mimir.rule_group_slot('/tmp/ruler_prom/rules.yml', name)) * 1000)::bigint
         % (extract(epoch FROM "interval") * 1000)::bigint AS offset_ms
  FROM mimir.rule_groups() ORDER BY name;
-- slots are interval apart, and the latest one at or before the time
SELECT s.at, mimir.rule_group_slot('/tmp/ruler_prom/rules.yml', 'g', s.at) AS slot
  FROM (VALUES ('2023-11-14 22:13:22.716+00'::timestamptz), ('2023-11-14 22:13:22.717+00'),
               ('2023-11-14 22:13:32.716+00'), ('2023-11-14 22:13:32.717+00')) s(at);
-- Mimir's align_evaluation_time_on_interval: no offset
SELECT mimir.set_rule_group('ns', E'name: aligned\ninterval: 1m\nalign_evaluation_time_on_interval: true\nrules: []\n');
SELECT mimir.rule_group_slot('ns', 'aligned', '2023-11-14 22:13:20+00');
SELECT mimir.rule_group_slot('ns', 'nope');

-- the job's steps at given times: every slot in turn up to now
SELECT count(mimir.write('heartbeat{job="x"}', '2023-11-14 22:00:00+00'::timestamptz + t * interval '5 s', t))
  FROM generate_series(0, 1000) t;
SELECT mimir.set_rule_group('ns', $$
name: steps
interval: 15s
rules:
  - record: heartbeat:last
    expr: heartbeat
$$);
SELECT id AS gid FROM mimir.rule_groups g WHERE name = 'steps' \gset
SET mimir.ruler_slot_delay = 0;
SELECT mimir.ruler_step(:gid, '2023-11-14 22:10:00+00');   -- first: the latest slot
SELECT mimir.ruler_step(:gid, '2023-11-14 22:10:00+00');   -- nothing due
-- a minute later (pg_cron's granularity): the four slots since, oldest first
SELECT mimir.ruler_step(:gid, '2023-11-14 22:11:00+00') FROM generate_series(1, 5);
SELECT evaluation_slot, evaluations, missed FROM mimir.rule_groups() WHERE name = 'steps';
-- after an hour of downtime: only the catch-up window (mimir.ruler_catchup_window, 2m) is evaluated,
-- the slots before it count as missed, as Prometheus skips missed iterations
SELECT count(s) AS evaluated FROM (SELECT mimir.ruler_step(:gid, '2023-11-14 23:11:00+00') s FROM generate_series(1, 20)) x
 WHERE s IS NOT NULL;
SELECT evaluation_slot, evaluations, missed FROM mimir.rule_groups() WHERE name = 'steps';
SELECT min(t), max(t), count(*) FROM mimir.samples('heartbeat:last', '2023-11-14 23:00:00+00', '2023-11-15 00:00:00+00');
-- a slot is evaluated once it is mimir.ruler_slot_delay old (remote-written samples have arrived)
RESET mimir.ruler_slot_delay;
SHOW mimir.ruler_slot_delay;
SELECT mimir.ruler_step(:gid, '2023-11-14 23:11:17+00');   -- slot 23:11:13.921 is 3s old: not yet
SELECT mimir.ruler_step(:gid, '2023-11-14 23:11:19+00');   -- 5s old: evaluated
-- the procedure pg_cron calls: runs to now
CALL mimir.run_rule_group(:gid);
SELECT health, evaluations > 12 AS evaluated, evaluation_slot > now() - interval '1 minute' AS caught_up
  FROM mimir.rule_groups() WHERE name = 'steps';

-- jobs: one per group, named after tenant/namespace/group; compactor jobs too
SELECT jobname LIKE 'mimir ruler % ruler_schedule/ns/steps' AS named, schedule,
       command = 'CALL mimir.run_rule_group(' || :gid || ')' AS command_ok, active
  FROM cron.job WHERE jobname LIKE 'mimir ruler % ruler_schedule/ns/steps';
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'mimir compactor%' ORDER BY 1;
SELECT left(regexp_replace(job, 'ruler \d+ ', 'ruler <id> '), 60) AS job, schedule,
       regexp_replace(command, '\(\d+\)', '(<id>)') AS command
  FROM mimir.install_jobs() WHERE job LIKE 'mimir compactor%' OR job LIKE '% ruler_schedule/%' ORDER BY 1;
SELECT count(*) FROM mimir.jobs() WHERE job LIKE '% ruler_schedule/%' OR job LIKE 'mimir compactor%';
SELECT mimir.uninstall_jobs() > 0 AS removed;
SELECT count(*) FROM cron.job WHERE jobname LIKE 'mimir %';
SELECT count(*) > 0 AS reinstalled FROM mimir.install_jobs();
SELECT count(*) > 0 AS back FROM cron.job WHERE jobname LIKE 'mimir ruler % ruler_schedule/%';
-- job names fit pg_cron's 63 bytes
SELECT mimir.set_rule_group(repeat('n', 40), E'name: ' || repeat('g', 80) || E'\nrules: []\n');
SELECT length(job), job LIKE 'mimir ruler % ruler_schedule/nnnn%' FROM mimir.rule_groups() WHERE namespace = repeat('n', 40);

-- without pg_cron: rule groups are kept and evaluated on request; the jobs come
-- with CREATE EXTENSION pg_cron (an event trigger installs them)
DROP EXTENSION pg_cron;
SELECT mimir.cron_available();
SELECT mimir.set_rule_group('nocron', E'name: later\nrules:\n  - record: r\n    expr: vector(1)\n');
SELECT namespace, name, job FROM mimir.rule_groups() WHERE namespace = 'nocron';
SELECT rule, value FROM mimir.evaluate_rule_group('nocron', 'later', '2023-11-14 22:00:00+00');
SELECT * FROM mimir.install_jobs();
SELECT count(*) FROM mimir.jobs();
CREATE EXTENSION pg_cron;
SELECT left(regexp_replace(jobname, 'ruler \d+ ', 'ruler <id> '), 60) AS job
  FROM cron.job WHERE jobname LIKE 'mimir compactor%' OR jobname LIKE '% ruler_schedule/nocron/%' ORDER BY 1;
