-- Chunk packs: settled chunks of many series in one row of mimir.chunk_packs.
-- Every reader sees plain and packed chunks as one; writers take chunks out
-- of their packs when they need them (late samples, deletions, retention).
SET mimir.tenant = 'packing';
SET timezone = 'UTC';
SET mimir.chunk_max_samples = 240;

-- a pack round-trips its chunks exactly (directory + slices)
WITH c AS (SELECT s, mimir.chunk_agg(ts, v ORDER BY ts) AS chunk
             FROM generate_series(1, 5) s,
                  LATERAL (SELECT '2020-05-01'::timestamptz + i * interval '15 s' AS ts,
                                  CASE WHEN i % 7 = 0 THEN 'NaN'::float8 ELSE i * s * 1.5 END AS v
                             FROM generate_series(0, 30 * s) i) x
            GROUP BY s ORDER BY s)
SELECT bool_and(a::bytea = b::bytea) AS same, count(*) AS chunks
  FROM (SELECT unnest(array_agg(chunk ORDER BY s)) AS a,
               unnest(mimir.pack_roundtrip(array_agg(s::bigint * 1000 ORDER BY s), array_agg(chunk ORDER BY s))) AS b
          FROM c) r;
SELECT mimir.pack_roundtrip(ARRAY[2, 1]::bigint[], ARRAY[mimir.chunk_agg('2020-01-01', 1), mimir.chunk_agg('2020-01-01', 2)]);

-- three series, 3 hours at 15 s (720 samples: three full chunks each), and
-- one series with only 100 samples (a chunk that is not full)
SELECT count(mimir.write(s, '2020-06-01 00:00:00+00'::timestamptz + t * interval '15 s', t))
  FROM unnest(ARRAY['p{k="1"}', 'p{k="2"}', 'q{k="1"}']) s, generate_series(0, 719) t;
SELECT count(mimir.write('r{k="1"}', '2020-06-01 00:00:00+00'::timestamptz + t * interval '15 s', t))
  FROM generate_series(0, 99) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
CREATE FUNCTION pk_summary(sel text DEFAULT '{__name__=~"p|q|r"}', tenant text DEFAULT 'packing')
RETURNS TABLE(labels jsonb, samples bigint, first timestamptz, last timestamptz, total float8)
LANGUAGE sql AS $$
  SELECT labels, count(*), min(t), max(t), sum(value)
    FROM mimir.samples(sel, '2020-01-01', '2022-01-01', tenant) GROUP BY labels ORDER BY labels::text $$;
-- where the tenant's chunks are: plain rows and packed entries
CREATE FUNCTION pk_placement(tenant text DEFAULT 'packing') RETURNS TABLE(plain bigint, packed bigint, in_packs boolean)
LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM mimir.chunks c JOIN mimir.all_series() s ON s.id = c.series_id
            JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = $1),
         (SELECT count(*) FROM mimir.chunk_pack_entries() e JOIN mimir.all_series() s ON s.id = e.series_id
            JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = $1),
         (SELECT count(DISTINCT (e.series_lo, e.pack_mint)) > 0 FROM mimir.chunk_pack_entries() e
            JOIN mimir.all_series() s ON s.id = e.series_id JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = $1) $$;
-- a series' chunks, plain and packed, never overlap, span at most 2 h, and
-- its packed chunks come before its plain ones
CREATE FUNCTION pk_violations() RETURNS bigint
LANGUAGE sql AS $$
  WITH c AS (SELECT series_id, mint, mimir.chunk_count(chunk) AS n,
                    (extract(epoch FROM mimir.chunk_end(chunk)) * 1000)::bigint AS maxt, false AS packed
               FROM mimir.chunks
             UNION ALL
             SELECT series_id, mint, mimir.chunk_count(chunk),
                    (extract(epoch FROM mimir.chunk_end(chunk)) * 1000)::bigint, true FROM mimir.chunk_pack_entries()),
       o AS (SELECT *, lag(maxt) OVER w AS prev_maxt, lag(packed) OVER w AS prev_packed
               FROM c WINDOW w AS (PARTITION BY series_id ORDER BY mint))
  SELECT count(*) FROM o
   WHERE maxt - mint > 7200000 OR (prev_maxt IS NOT NULL AND prev_maxt >= mint)
      OR (packed AND prev_packed = false) $$;
CREATE FUNCTION pk_querier(q text) RETURNS TABLE(labels jsonb, points bigint, total float8)
LANGUAGE sql AS $$
  SELECT labels, count(*), sum(value) FROM mimir.query_range(q, '2020-06-01 00:00:00+00', '2020-06-01 03:30:00+00',
                                                           '1 minute', 'packing')
   GROUP BY labels ORDER BY labels::text $$;
CREATE TEMP TABLE pk_before AS SELECT * FROM pk_summary();
CREATE TEMP TABLE pk_before_q AS
  SELECT * FROM pk_querier('{__name__=~"p|q|r"}') UNION ALL SELECT * FROM pk_querier('sum_over_time(p[1m])')
  UNION ALL SELECT * FROM pk_querier('rate(q[5m])');
SELECT count(*), sum(points) FROM pk_before_q;
SELECT * FROM pk_before;
SELECT * FROM pk_placement();

-- settled: full chunks always; r's chunk only once it is old enough
SELECT mimir.pack_chunks('100 years') > 0 AS packed;
SELECT * FROM pk_placement();
SELECT mimir.pack_chunks('1 hour') > 0 AS packed;
SELECT * FROM pk_placement();
SELECT mimir.pack_chunks() >= 0 AS nothing_left_of_packing;
SELECT * FROM pk_placement();
SELECT pk_violations();
-- packs hold consecutive series ids, at most 4096 apart
SELECT bool_and(series_hi - series_lo < 4096 AND series_id BETWEEN series_lo AND series_hi) FROM mimir.chunk_pack_entries();

-- every reader sees the same data: mimir.samples, the querier, series and labels
SELECT s.* FROM pk_summary() s FULL JOIN pk_before b USING (labels)
 WHERE s.samples IS DISTINCT FROM b.samples OR s.total IS DISTINCT FROM b.total
    OR s.first IS DISTINCT FROM b.first OR s.last IS DISTINCT FROM b.last;
SELECT count(*) AS differences FROM
  ((SELECT * FROM pk_querier('{__name__=~"p|q|r"}') UNION ALL SELECT * FROM pk_querier('sum_over_time(p[1m])')
    UNION ALL SELECT * FROM pk_querier('rate(q[5m])'))
   EXCEPT ALL SELECT * FROM pk_before_q) d;
SELECT value FROM mimir.query('sum(count_over_time({__name__=~"p|q|r"}[1d]))', '2020-06-01 12:00:00+00', 'packing');
SELECT t, value FROM mimir.samples('p{k="1"}', '2020-06-01 01:59:30+00', '2020-06-01 02:00:15+00');
SELECT count(*) FROM mimir.series('{__name__=~"p|q|r"}', '2020-06-01', '2020-06-02');

-- a sample in the middle of a packed chunk: the series' packed chunks from
-- there on come back as plain chunks and the sample is merged in
SELECT mimir.write('p{k="1"}', '2020-06-01 00:30:07+00', -5);
-- an exact duplicate of a packed sample, and a conflicting one, are found in packs
SELECT mimir.write('p{k="2"}', '2020-06-01 01:00:00+00', 240);
SELECT mimir.write('p{k="2"}', '2020-06-01 01:00:00+00', 1);
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT * FROM pk_placement();
SELECT pk_violations();
SELECT t, value FROM mimir.samples('p{k="1"}', '2020-06-01 00:30:00+00', '2020-06-01 00:30:15+00');
SELECT labels, samples, total FROM pk_summary('p');
-- after the sample at the end of a packed series: appended as a new chunk
SELECT mimir.write('q{k="1"}', '2020-06-01 03:00:00+00', 1000);
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT * FROM pk_placement();
SELECT pk_violations();
SELECT labels, samples, last, total FROM pk_summary('q');
-- pack again: everything settled goes back into packs
SELECT mimir.pack_chunks('1 hour') > 0 AS packed;
SELECT * FROM pk_placement();
SELECT pk_violations();

-- delete_series on packed data: exactly the window goes
SELECT mimir.delete_series('p{k="2"}', '2020-06-01 00:30:00+00', '2020-06-01 01:00:00+00');
SELECT labels, samples, total FROM pk_summary('p');
SELECT count(*) FROM mimir.samples('p{k="2"}', '2020-06-01 00:30:00+00', '2020-06-01 01:00:00+00');
SELECT pk_violations();
SELECT mimir.delete_series('q', '-infinity', 'infinity');
SELECT * FROM pk_summary('q');
SELECT mimir.pack_chunks('1 hour') >= 0 AS packed;
SELECT * FROM pk_placement();
SELECT pk_violations();

-- a new series after packing gets its own id and is read with the others
SELECT mimir.write('p{k="3"}', '2020-06-01 00:00:00+00', 7);
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT labels, samples FROM pk_summary('p');

-- retention: a tenant's packed chunks before its cutoff go, neighbours' stay
SELECT count(mimir.write('p{k="1"}', '2020-06-01 00:00:00+00'::timestamptz + t * interval '15 s', t, 'packing_ret'))
  FROM generate_series(0, 479) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT mimir.pack_chunks('1 hour') > 0 AS packed;
SELECT * FROM pk_placement('packing_ret');
SELECT mimir.set_retention('1 day', 'packing_ret');
SELECT tenant, rows_removed, partitions_dropped FROM mimir.run_retention() WHERE tenant = 'packing_ret';
SELECT * FROM pk_placement('packing_ret');
SELECT count(*) FROM mimir.samples('p', '2020-01-01', '2022-01-01', 'packing_ret');
SELECT labels, samples FROM pk_summary('p');
-- whole days: a day only an expired tenant has data in is dropped, packs too
SELECT count(mimir.write('z', '2019-03-05 00:00:00+00'::timestamptz + t * interval '15 s', t, 'packing_ret'))
  FROM generate_series(0, 479) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT mimir.pack_chunks('1 hour') > 0 AS packed;
SELECT relname FROM pg_class WHERE relname IN ('chunks_p20190305', 'chunk_packs_p20190305') ORDER BY 1;
SELECT sum(partitions_dropped) > 0 AS dropped FROM mimir.run_retention();
SELECT relname FROM pg_class WHERE relname IN ('chunks_p20190305', 'chunk_packs_p20190305') ORDER BY 1;
SELECT count(*) FROM mimir.samples('z', '2019-01-01', '2020-01-01', 'packing_ret');

-- delete_tenant removes the tenant's packed chunks; other tenants keep theirs
SELECT count(mimir.write('p{k="1"}', '2020-06-01 00:00:00+00'::timestamptz + t * interval '15 s', t, 'packing_del'))
  FROM generate_series(0, 479) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT mimir.pack_chunks('1 hour') > 0 AS packed;
SELECT * FROM pk_placement('packing_del');
SELECT mimir.delete_tenant('packing_del');
SELECT * FROM pk_placement('packing_del');
SELECT count(*) FROM mimir.samples('p', '2020-01-01', '2022-01-01', 'packing_del');
SELECT labels, samples FROM pk_summary('p');
SELECT pk_violations();

-- many series at once: packs of at most 128 chunks, consecutive ids, all read back
SELECT count(mimir.write(format('m{i="%s"}', i), '2020-06-02 00:00:00+00'::timestamptz + t * interval '15 s', i * 1000 + t))
  FROM generate_series(1, 300) i, generate_series(0, 239) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SELECT mimir.pack_chunks('1 hour') >= 300 AS packed;
SELECT * FROM pk_placement();
SELECT count(DISTINCT (series_lo, pack_mint)) >= 3 AS packs, max(n) <= 128 AS at_most_128
  FROM (SELECT series_lo, pack_mint, count(*) OVER (PARTITION BY series_lo, pack_mint) AS n
          FROM mimir.chunk_pack_entries() e JOIN mimir.all_series() s ON s.id = e.series_id
          JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'packing' AND e.mint >= 1591056000000) x;
SELECT count(*) AS series, sum(n) AS samples, bool_and(n = 240) AS complete,
       bool_and(total = 240 * (i * 1000) + 28680) AS exact
  FROM (SELECT (labels->>'i')::int AS i, count(*) AS n, sum(value) AS total
          FROM mimir.samples('m', '2020-06-02', '2020-06-03') GROUP BY 1) x;
SELECT count(*) AS querier_series, sum(value) AS total
  FROM mimir.query('count_over_time(m[2h])', '2020-06-02 01:00:00+00');
SELECT pk_violations();

-- a chunk too large for an inline pack row: a pack of its own, out of line, read by slices
SET mimir.chunk_max_samples = 4000;
SELECT count(mimir.write('big', '2020-06-03 00:00:00+00'::timestamptz + t * interval '1 s', sin(t) * 1e6))
  FROM generate_series(0, 3999) t;
SELECT count(mimir.write('big2', '2020-06-03 00:00:00+00'::timestamptz + t * interval '1 s', cos(t) * 1e6))
  FROM generate_series(0, 3999) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
SET mimir.chunk_max_samples = 240;
CREATE TEMP TABLE pk_big AS
  SELECT count(*) AS n, sum(value) AS total FROM mimir.samples('{__name__=~"big|big2"}', '2020-06-03', '2020-06-04');
SELECT mimir.pack_chunks('1 hour') >= 2 AS packed;
SELECT count(*) AS big_packed, min(octet_length(chunk::bytea)) > 8000 AS large
  FROM mimir.chunk_pack_entries() WHERE mint >= 1591142400000 AND mint < 1591228800000;
SELECT n, abs(total - (SELECT total FROM pk_big)) < 1e-3 AS same
  FROM (SELECT count(*) AS n, sum(value) AS total FROM mimir.samples('{__name__=~"big|big2"}', '2020-06-03', '2020-06-04')) x;
SELECT value FROM mimir.query('count_over_time(big2[2h])', '2020-06-03 01:30:00+00');
SELECT round(value) FROM mimir.query('sum(sum_over_time(big[2h]))', '2020-06-03 01:30:00+00');
SELECT round(sum(sin(t) * 1e6)) FROM generate_series(0, 3999) t;

-- bad arguments
SELECT mimir.pack_chunks('-1 hour');
SELECT mimir.pack_chunks('1 hour', 0);
-- packing is logged and scheduled
SELECT job, rows_removed > 0 AS moved FROM mimir.compactor_runs WHERE job = 'pack_chunks' ORDER BY id LIMIT 1;
SELECT count(*) FROM mimir.install_jobs() WHERE command = 'SELECT mimir.pack_chunks()';
SELECT mimir.set_retention(NULL, 'packing_ret');
