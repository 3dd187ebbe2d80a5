-- Merging runs of small chunks into full ones: the data stays exactly the same.
SET mimir.tenant = 'compactor_merge';
SET timezone = 'UTC';
-- small chunks: cut with a tiny chunk size
SET mimir.chunk_max_samples = 10;
SELECT count(mimir.write('small{k="' || k || '"}', now() - interval '1 hour' + t * interval '10 s', t * k))
  FROM generate_series(1, 2) k, generate_series(0, 99) t;
-- and a series spread over more than two hours (chunks never span more)
SELECT count(mimir.write('wide', now() - interval '5 hours' + t * interval '10 min', t))
  FROM generate_series(0, 29) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
RESET mimir.chunk_max_samples;
CREATE FUNCTION layout() RETURNS TABLE(series text, chunks bigint, samples bigint, max_span interval)
LANGUAGE sql AS $$
  SELECT (SELECT string_agg(lp.name || '=' || lp.value, ',' ORDER BY lp.name) FROM mimir.label_pairs lp
           WHERE lp.id = ANY(s.labels)), count(*), sum(mimir.chunk_count(c.chunk)),
         max((c.maxt - c.mint) * interval '1 ms')
    FROM mimir.chunks c JOIN mimir.all_series() s ON s.id = c.series_id
    JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'compactor_merge'
   GROUP BY 1 ORDER BY 1 $$;
CREATE FUNCTION data() RETURNS text
LANGUAGE sql AS $$
  SELECT md5(string_agg(labels::text || t::text || value::text, ',' ORDER BY labels::text, t))
    FROM mimir.samples('{__name__=~"small|wide"}', now() - interval '1 day', now()) $$;
SELECT * FROM layout();
SELECT data() AS before \gset
SELECT mimir.merge_chunks('1 day') AS chunks_removed;
SELECT * FROM layout();
SELECT data() = :'before' AS same_data;
-- nothing left to merge
SELECT mimir.merge_chunks('1 day') AS chunks_removed;
-- only recent chunks are looked at
SET mimir.chunk_max_samples = 10;
SELECT count(mimir.write('small{k="3"}', now() - interval '3 days' + t * interval '10 s', t))
  FROM generate_series(0, 29) t;
SELECT mimir.cut_head(100000) >= 0 AS cut;
RESET mimir.chunk_max_samples;
SELECT mimir.merge_chunks('1 day') AS chunks_removed;
SELECT mimir.merge_chunks('4 days') AS chunks_removed;
SELECT mimir.merge_chunks('1 day', 0);
SELECT job, rows_removed, chunks_written, bytes_removed > 0 AS saved_bytes, detail
  FROM mimir.compactor_runs WHERE job = 'merge_chunks' ORDER BY id DESC LIMIT 4;
