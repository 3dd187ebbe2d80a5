-- the head is cut into chunks; readers see head and chunks as one
SET timezone = 'UTC';
SET mimir.tenant = 'cut';
SET mimir.chunk_max_samples = 4;
SELECT mimir.cut_head() >= 0 AS drained;
SELECT count(mimir.write('c{s="a"}', '2024-01-01'::timestamptz + g * interval '15 s', g))
  FROM generate_series(0, 9) g;
SELECT count(*) AS head_rows FROM mimir.head h JOIN mimir.tenants t ON t.id = h.tenant_id WHERE t.name = 'cut';
SELECT mimir.cut_head() AS cut;
SELECT count(*) AS head_rows FROM mimir.head h JOIN mimir.tenants t ON t.id = h.tenant_id WHERE t.name = 'cut';
CREATE VIEW cut_chunks AS
  SELECT to_timestamp(c.mint / 1000.0) AS mint, to_timestamp(c.maxt / 1000.0) AS maxt,
         mimir.chunk_count(c.chunk) AS n, c.tableoid::regclass AS part
    FROM mimir.chunks c JOIN mimir.all_series() s ON s.id = c.series_id
    JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'cut'
   ORDER BY s.id, c.mint;
SELECT * FROM cut_chunks;
-- appending fills the last chunk, then starts new ones
SELECT count(mimir.write('c{s="a"}', '2024-01-01'::timestamptz + g * interval '15 s', g))
  FROM generate_series(10, 12) g;
SELECT mimir.cut_head() AS cut;
SELECT * FROM cut_chunks;
-- late samples merge into the chunks they overlap; the invariant (no overlap) holds
SELECT count(mimir.write('c{s="a"}', '2024-01-01'::timestamptz + g * interval '15 s' + interval '7 s', -g))
  FROM generate_series(2, 4) g;
-- visible before cutting, merged with chunks
SELECT count(*), sum(value) FROM mimir.samples('c', '2024-01-01', '2024-01-02');
SELECT mimir.cut_head() AS cut;
SELECT * FROM cut_chunks;
SELECT count(*), sum(value) FROM mimir.samples('c', '2024-01-01', '2024-01-02');
SELECT value FROM mimir.samples('c', '2024-01-01 00:00:30', '2024-01-01 00:01:00');
-- duplicates are still detected against chunks
SELECT mimir.write('c{s="a"}', '2024-01-01 00:00:30', 2);
SELECT mimir.write('c{s="a"}', '2024-01-01 00:00:30', 99);
-- a chunk never spans more than 2 hours
SELECT count(mimir.write('sparse', '2024-01-01'::timestamptz + g * interval '50 min', g)) FROM generate_series(0, 5) g;
SELECT mimir.cut_head() AS cut;
SELECT bool_and(c.maxt - c.mint <= 7200000) AS span_ok, count(*) AS chunks
  FROM mimir.chunks c JOIN mimir.all_series() s ON s.id = c.series_id
 WHERE s.labels @> ARRAY(SELECT id FROM mimir.label_pairs WHERE name = '__name__' AND value = 'sparse');
-- chunks live in daily partitions (of their first sample), also for old and pre-1970 data
SELECT mimir.write('old', t, 1) FROM unnest(ARRAY['1970-01-01 00:00:00+00', '1969-12-31 23:00:00+00', '2001-09-09 01:46:40+00']::timestamptz[]) t;
SELECT mimir.cut_head() AS cut;
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'mimir.chunks'::regclass AND c.relname IN ('chunks_p19700101', 'chunks_p19691231', 'chunks_p20010909', 'chunks_p20240101')
 ORDER BY 1;
SELECT t, value FROM mimir.samples('old', '1969-01-01', '2002-01-01');
-- a partition can be dropped whole
SELECT count(*) FROM mimir.chunks_p19691231;
DROP TABLE mimir.chunks_p19691231;
SELECT t, value FROM mimir.samples('old', '1969-01-01', '2002-01-01');
