-- Deleting series data (exactly the samples asked for, chunks rewritten) and
-- whole tenants; everything else stays as it was.
SET mimir.tenant = 'compactor_del';
SET timezone = 'UTC';
-- three series, a sample every 15s for 3 hours; most cut into chunks, the last
-- half hour still in the head
SELECT count(mimir.write(s, '2021-01-01 00:00:00+00'::timestamptz + t * interval '15 s', t))
  FROM unnest(ARRAY['a{k="1"}', 'a{k="2"}', 'b{k="1"}']) s, generate_series(0, 599) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT count(mimir.write(s, '2021-01-01 00:00:00+00'::timestamptz + t * interval '15 s', t))
  FROM unnest(ARRAY['a{k="1"}', 'a{k="2"}', 'b{k="1"}']) s, generate_series(600, 719) t;
CREATE FUNCTION summary(sel text DEFAULT '{__name__=~"a|b"}')
RETURNS TABLE(labels jsonb, samples bigint, first timestamptz, last timestamptz, total float8)
LANGUAGE sql AS $$
  SELECT labels, count(*), min(t), max(t), sum(value)
    FROM mimir.samples(sel, '2020-01-01', '2022-01-01', 'compactor_del') GROUP BY labels ORDER BY labels::text $$;
SELECT * FROM summary();

-- a window in the middle of a{k="1"}: boundaries included, across chunk boundaries
SELECT mimir.delete_series('a{k="1"}', '2021-01-01 00:30:00+00', '2021-01-01 01:00:00+00');
SELECT * FROM summary();
SELECT count(*) AS samples_in_window FROM mimir.samples('a{k="1"}', '2021-01-01 00:30:00+00', '2021-01-01 01:00:00+00');
SELECT min(t), max(t) FROM mimir.samples('a{k="1"}', '2021-01-01 00:29:00+00', '2021-01-01 01:01:00+00')
 WHERE t < '2021-01-01 00:30:00+00' OR t > '2021-01-01 01:00:00+00';
-- a range reaching into the head (not yet cut)
SELECT mimir.delete_series('{__name__="a"}', '2021-01-01 02:45:00+00', '2021-01-01 02:50:00+00');
SELECT * FROM summary();
-- one exact sample
SELECT mimir.delete_series('b', '2021-01-01 01:00:00+00', '2021-01-01 01:00:00+00');
SELECT * FROM summary('b');
-- everything of a series
SELECT mimir.delete_series('a{k="2"}', '-infinity', 'infinity');
SELECT * FROM summary();
-- nothing matches / nothing in range
SELECT mimir.delete_series('nothing', '-infinity', 'infinity');
SELECT mimir.delete_series('b', '2030-01-01', '2031-01-01');
SELECT mimir.delete_series('b', '-infinity', 'infinity', 'no_such_tenant');
-- the deleted range can be written again
SELECT mimir.write('a{k="1"}', '2021-01-01 00:45:00+00', -1);
SELECT * FROM mimir.samples('a{k="1"}', '2021-01-01 00:44:50+00', '2021-01-01 00:45:10+00');
-- bad requests
SELECT mimir.delete_series('a{', '-infinity', 'infinity');
SELECT mimir.delete_series('a', '2021-01-02', '2021-01-01');
SELECT mimir.delete_series(NULL, '-infinity', 'infinity');
-- the cutter still works afterwards, and the data is the same in chunks
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT * FROM summary();

-- a whole tenant: samples, rules, settings; other tenants intact
SELECT count(mimir.write('b{k="1"}', '2021-01-01 00:00:00+00'::timestamptz + t * interval '15 s', t, 'compactor_other'))
  FROM generate_series(0, 99) t;
SELECT mimir.set_rule_group('ns', E'name: g\nrules:\n  - record: x\n    expr: vector(1)\n');
SELECT mimir.set_retention('7 days');
SELECT mimir.label_names() AS names_before;
SELECT mimir.delete_tenant('compactor_del');
SELECT * FROM summary();
-- its series index is gone too (no time range: the index alone answers)
SELECT count(*) AS label_names FROM mimir.label_names();
SELECT count(*) AS label_values FROM mimir.label_values('k');
SELECT count(*) AS series FROM mimir.series('{__name__=~".+"}', '2000-01-01', '2100-01-01');
SELECT count(*) AS series_rows FROM mimir.series s JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'compactor_del';
SELECT count(*) AS pair_rows FROM mimir.label_pairs p JOIN mimir.tenants t ON t.id = p.tenant_id WHERE t.name = 'compactor_del';
-- the other tenant's index is intact
SELECT * FROM mimir.label_values('k', NULL, NULL, NULL, 'compactor_other');
SELECT count(*) FROM mimir.rule_groups();
SELECT count(*) FROM cron.job WHERE jobname LIKE '% compactor_del/%';
SELECT mimir.retention();
SELECT count(*), sum(value) FROM mimir.samples('b', '2020-01-01', '2022-01-01', 'compactor_other');
SELECT mimir.delete_tenant('compactor_del');
SELECT mimir.delete_tenant('never_existed');
-- the tenant can write again (new series, in a later transaction and in this one)
SELECT mimir.write('a{k="1"}', '2021-01-01 00:00:00+00', 1);
SELECT * FROM summary();
BEGIN;
SELECT mimir.delete_tenant('compactor_del');
SELECT mimir.write('a{k="1"}', '2021-01-01 00:00:15+00', 2);
SELECT mimir.write('c', '2021-01-01 00:00:15+00', 3);
COMMIT;
SELECT * FROM summary('{__name__=~"a|c"}');
SELECT mimir.label_names();
SELECT mimir.delete_tenant('compactor_del');
SELECT mimir.write('a{k="1"}', '2021-01-01 00:00:00+00', 1);
SELECT * FROM summary();

-- every run is logged
SELECT job, tenant, rows_removed > 0 AS removed_rows, samples_removed, bytes_removed > 0 AS removed_bytes, detail
  FROM mimir.compactor_runs WHERE tenant IN ('compactor_del', 'no_such_tenant') ORDER BY id;
SELECT job, tenant, samples_removed FROM mimir.compactor_last_runs WHERE tenant = 'compactor_del' ORDER BY job;
