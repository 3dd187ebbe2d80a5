-- Retention per tenant (Mimir's compactor_blocks_retention_period): whole day
-- partitions are dropped when no tenant keeping data has chunks in them,
-- otherwise only the expired chunks (and head rows) of that tenant go.
SET timezone = 'UTC';
SELECT mimir.retention('ret_a');
SELECT mimir.set_retention('2 days', 'ret_a');
SELECT mimir.set_retention('5 days', 'ret_c');
SELECT mimir.retention('ret_a'), mimir.retention('ret_b'), mimir.retention('ret_c');
SELECT mimir.set_retention('-1 day', 'ret_a');
SELECT name, value, source FROM mimir.tenant_limits('ret_a') WHERE name = 'compactor_blocks_retention_period';

-- ret_a alone in a day 30 days ago; ret_a, ret_b (forever) and ret_c (5 days) share a
-- day 4 days ago; today's data stays for everyone
CREATE TEMP TABLE days AS
  SELECT date_trunc('day', now()) - interval '30 days' + interval '1 hour' AS old_day,
         date_trunc('day', now()) - interval '4 days' + interval '1 hour' AS shared_day,
         date_trunc('day', now()) AS today;
SELECT count(mimir.write('m{i="' || i || '"}', old_day + t * interval '1 min', t, 'ret_a'))
  FROM days, generate_series(1, 3) i, generate_series(0, 59) t;
SELECT count(mimir.write('m{i="' || i || '"}', shared_day + t * interval '1 min', t, tenant))
  FROM days, unnest(ARRAY['ret_a', 'ret_b', 'ret_c']) tenant, generate_series(1, 2) i, generate_series(0, 59) t;
SELECT count(mimir.write('m{i="1"}', least(today, now() - interval '1 hour') + t * interval '1 min', t, tenant))
  FROM days, unnest(ARRAY['ret_a', 'ret_b', 'ret_c']) tenant, generate_series(0, 9) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
-- a head row of ret_a that expired (not cut yet)
SELECT mimir.write('h{i="1"}', old_day + interval '2 hours', 1, 'ret_a') FROM days;

CREATE FUNCTION counts() RETURNS TABLE(tenant text, old_day bigint, shared_day bigint, today bigint)
LANGUAGE sql AS $$
  SELECT tn,
         (SELECT count(*) FROM mimir.samples('{__name__=~"m|h"}', d.old_day - interval '1 hour', d.old_day + interval '4 hours', tn)),
         (SELECT count(*) FROM mimir.samples('m', d.shared_day - interval '1 hour', d.shared_day + interval '2 hours', tn)),
         (SELECT count(*) FROM mimir.samples('m', least(d.today, now() - interval '1 hour') - interval '1 minute', now() + interval '1 hour', tn))
    FROM days d, unnest(ARRAY['ret_a', 'ret_b', 'ret_c']) tn ORDER BY 1 $$;
SELECT * FROM counts();
SELECT count(*) AS partitions_before FROM pg_inherits WHERE inhparent = 'mimir.chunks'::regclass \gset

SELECT tenant, rows_removed > 0 AS removed, bytes_removed > 0 AS bytes, partitions_dropped
  FROM mimir.run_retention() WHERE tenant IS NULL OR tenant LIKE 'ret_%' ORDER BY tenant NULLS FIRST;
SELECT * FROM counts();
-- the partition of the day only ret_a used is gone
SELECT :partitions_before - count(*) AS partitions_dropped FROM pg_inherits WHERE inhparent = 'mimir.chunks'::regclass;
SELECT count(*) AS old_day_partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, days
 WHERE i.inhparent = 'mimir.chunks'::regclass
   AND c.relname = 'chunks_p' || to_char(old_day, 'YYYYMMDD');
-- writing into a dropped day re-creates its partition
SELECT mimir.write('m{i="9"}', old_day, 1, 'ret_b') FROM days;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT count(*) FROM mimir.samples('m{i="9"}', '2000-01-01', '2100-01-01', 'ret_b');
-- running again removes nothing more
SELECT tenant, rows_removed, partitions_dropped FROM mimir.run_retention()
 WHERE tenant IS NULL OR tenant LIKE 'ret_%' ORDER BY tenant NULLS FIRST;
SELECT job, tenant, samples_removed > 0 AS removed FROM mimir.compactor_last_runs WHERE job = 'retention' AND tenant LIKE 'ret_%';
-- keep forever again
SELECT mimir.set_retention(NULL, 'ret_a');
SELECT mimir.retention('ret_a');
