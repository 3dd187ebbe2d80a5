-- series blocks: settled series packed many to a row (mimir.series_blocks);
-- every reader sees plain and packed series as one
SET timezone = 'UTC';
SET mimir.tenant = 'regress_blocks';

-- the block format: exact round trips (deltas up and down, empty and long label sets, large ids)
SELECT mimir.series_block_roundtrip(ARRAY[1, 2, 5, 300, 70000]::bigint[],
  ARRAY['{10,20,30}', '{11,19,2000000}', '{}', '{2147483647,1,0,5,6,7,8,9,10,11,12}', '{7}']);
SELECT mimir.series_block_roundtrip(ARRAY[9223372036854700000]::bigint[], ARRAY['{1,2}']);
SELECT mimir.series_block_roundtrip(ARRAY[3, 2]::bigint[], ARRAY['{1}', '{2}']);
SELECT mimir.series_block_roundtrip(ARRAY[3]::bigint[], ARRAY['{1}', '{2}']);

-- in one transaction, so that the compactor's job cannot pack these series before we look
BEGIN;
SELECT count(mimir.write(s, '2024-01-01 00:00:00+00', 1)) FROM unnest(ARRAY[
  'm{job="api",path="/a"}', 'm{job="api",path="/b"}', 'm{job="apiserver",path="/a"}',
  'm{job="web"}', 'm{job="Web",path=""}', 'other{job="api"}', 'm{job="ap"}',
  'm{job="multi\nline"}', 'm{job="quote\"d"}']) s;
-- many series, so that they fill several blocks
SELECT count(mimir.write(format('bulk{instance="host-%s",cpu="%s",mode="%s"}', i / 8, i % 8, (i / 3) % 5),
                         '2024-01-01 00:00:00+00', i))
  FROM generate_series(1, 3000) i;

CREATE FUNCTION blk_sel(q text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT labels::text FROM mimir.series(q, '2024-01-01', '2024-01-02') $$;
CREATE TABLE blk_selectors(q text PRIMARY KEY);
INSERT INTO blk_selectors VALUES
  ('m'), ('m{job="api"}'), ('m{job!="api"}'), ('m{job=~"api"}'), ('m{job=~"ap"}'), ('m{job=~"api.*"}'),
  ('m{job=~"api|web"}'), ('m{job=~"(?i)web"}'), ('m{job!~"api.*"}'), ('m{path=""}'), ('m{path!=""}'),
  ('m{path=~""}'), ('m{path=~"/a|"}'), ('m{path!~"/a"}'), ('{job="api"}'),
  ('{__name__=~"m|other", job="api", path!="/b"}'), ('{"m", job="web"}'), ('m{job=~"multi.line"}'),
  ('m{job="quote\"d"}'), ('nothing'), ('m{job="nothing"}'), ('{__name__=~".+"}'),
  ('bulk{instance="host-7"}'), ('bulk{instance=~"host-1.*",cpu="3"}'), ('bulk{mode!="2",cpu=~"1|2"}'),
  ('bulk{cpu!~"[0-6]"}'), ('{mode="4",instance="host-100"}'), ('bulk{instance!="host-1"}');
-- the selections, plain
CREATE TABLE blk_plain AS SELECT q, blk_sel(q) AS labels FROM blk_selectors;
SELECT count(*) AS plain_rows FROM mimir.series s JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'regress_blocks';
-- the keys of the plain series, to check the packed ones' keys computed from labels
CREATE TABLE blk_keys AS
  SELECT s.id, s.lhash FROM mimir.series s JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'regress_blocks';

SELECT mimir.pack_series() >= 3009 AS packed;
SELECT count(*) AS plain_rows_left FROM mimir.series s JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'regress_blocks';
SELECT count(*) > 1 AS several_blocks, bool_and(last_id - first_id < 65536) AS span,
       bool_and(pg_column_size(b.*) <= 8160) AS fits_a_page,
       sum(octet_length(data)) / count(*) FILTER (WHERE true) > 0 AS has_data
  FROM mimir.series_blocks b JOIN mimir.tenants t ON t.id = b.tenant_id WHERE t.name = 'regress_blocks';
-- every series once, with its labels unchanged
SELECT count(*), count(DISTINCT a.id) FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id
 WHERE t.name = 'regress_blocks';
SELECT count(*) AS keys_differ FROM blk_keys k
  LEFT JOIN mimir.series_lhash('regress_blocks', ARRAY(SELECT id FROM blk_keys)) p ON p.id = k.id
 WHERE p.lhash IS DISTINCT FROM k.lhash;
-- the same selections, packed
SELECT q, count(*) FILTER (WHERE w = 'plain') AS only_plain, count(*) FILTER (WHERE w = 'packed') AS only_packed
  FROM ((SELECT 'plain' AS w, * FROM blk_plain EXCEPT ALL SELECT 'plain', q, blk_sel(q) FROM blk_selectors)
        UNION ALL (SELECT 'packed', q, blk_sel(q) FROM blk_selectors EXCEPT ALL SELECT 'packed', * FROM blk_plain)) d
 GROUP BY q ORDER BY q;
SELECT q, count(*) FROM blk_plain GROUP BY q ORDER BY q;
SELECT blk_sel('m{job=~"api.*"}');
SELECT blk_sel('{mode="4",instance="host-100"}');
COMMIT;

-- a series identical to a packed one gets the packed id (no new row), also by remote-write's key
SELECT mimir.write('m{job="api",path="/a"}', '2024-01-01 00:01:00+00', 2);
SELECT mimir.write('bulk{instance="host-7",cpu="0",mode="3"}', '2024-01-01 00:01:00+00', 2);
SELECT count(*) AS all_series FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id WHERE t.name = 'regress_blocks';
SELECT * FROM mimir.samples('m{job="api",path="/a"}', '2024-01-01', '2024-01-02');
-- labels of a packed series by id (the duplicate sample message)
SELECT mimir.write('m{job="api",path="/b"}', '2024-01-01 00:00:00+00', 5);

-- mixed: new plain series next to packed ones
SELECT count(mimir.write(s, '2024-01-01 00:00:00+00', 1)) FROM unnest(ARRAY[
  'm{job="api",path="/c"}', 'm{job="web2"}', 'bulk{instance="host-7",cpu="9",mode="0"}']) s;
SELECT count(*) AS all_series FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id WHERE t.name = 'regress_blocks';
SELECT blk_sel('m{job=~"api|web.*"}');
SELECT blk_sel('bulk{instance="host-7",cpu=~"0|9"}');
-- the last block is refilled by the next run; ids never change
CREATE TABLE blk_ids AS SELECT a.id, a.labels FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id
 WHERE t.name = 'regress_blocks';
SELECT mimir.pack_series() <= 3 AS packed;
SELECT count(*) AS plain_rows FROM mimir.series s JOIN mimir.tenants t ON t.id = s.tenant_id WHERE t.name = 'regress_blocks';
SELECT count(*) AS changed FROM (SELECT a.id, a.labels FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id
 WHERE t.name = 'regress_blocks' EXCEPT SELECT * FROM blk_ids) d;
SELECT count(*) AS lost FROM (SELECT * FROM blk_ids EXCEPT SELECT a.id, a.labels FROM mimir.all_series() a) d;
SELECT blk_sel('m{job=~"api|web.*"}');

-- PromQL and the HTTP API over packed series
SELECT labels::text, value FROM mimir.query('sum by (job) (m)', '2024-01-01 00:00:30+00') ORDER BY 1;
SELECT status, body FROM mimir.http_call('GET', '/api/v1/series', 'match[]=m{job=~"api.*"}', NULL, 'regress_blocks');
SELECT status, body FROM mimir.http_call('GET', '/api/v1/label/job/values', 'match[]=m', NULL, 'regress_blocks');
SELECT status, body FROM mimir.http_call('GET', '/api/v1/labels', 'match[]=other', NULL, 'regress_blocks');
SELECT status, body FROM mimir.http_call('GET', '/api/v1/cardinality/label_names', 'selector=m', NULL, 'regress_blocks');

-- deletion of samples of packed series
SELECT mimir.delete_series('m{job="api"}', '-infinity', 'infinity');
SELECT count(*) FROM mimir.samples('m{job="api"}', '2024-01-01', '2024-01-02');
SELECT count(*) FROM mimir.samples('m{job="web"}', '2024-01-01', '2024-01-02');

-- retention over packed series: their chunks go too
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM mimir.head h JOIN mimir.tenants t ON t.id = h.tenant_id
                           WHERE t.name = 'regress_blocks');
    PERFORM mimir.cut_head();
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT count(*) > 0 AS chunks_of_packed_series
  FROM mimir.chunks c JOIN mimir.all_series() a ON a.id = c.series_id JOIN mimir.tenants t ON t.id = a.tenant_id
 WHERE t.name = 'regress_blocks' AND NOT EXISTS (SELECT FROM mimir.series s WHERE s.id = a.id);
SELECT mimir.set_retention('1 day');
SELECT rows_removed > 0 OR partitions_dropped > 0 AS removed FROM mimir.run_retention() WHERE tenant = 'regress_blocks';
SELECT count(*) FROM mimir.samples('{__name__=~".+"}', '2000-01-01', '2100-01-01');
SELECT mimir.set_retention(NULL);

-- delete_tenant takes the tenant's series blocks too; its series come back as new ones
SELECT count(mimir.write(format('gone{i="%s"}', i), '2024-01-01 00:00:00+00', i, 'regress_blocks_gone'))
  FROM generate_series(1, 50) i;
SELECT mimir.pack_series() >= 50 AS packed;
SELECT count(*) > 0 AS blocks FROM mimir.series_blocks b JOIN mimir.tenants t ON t.id = b.tenant_id
 WHERE t.name = 'regress_blocks_gone';
SELECT mimir.delete_tenant('regress_blocks_gone');
SELECT count(*) AS blocks_left FROM mimir.series_blocks b JOIN mimir.tenants t ON t.id = b.tenant_id
 WHERE t.name = 'regress_blocks_gone';
SELECT count(*) AS series_left FROM mimir.all_series() a JOIN mimir.tenants t ON t.id = a.tenant_id
 WHERE t.name = 'regress_blocks_gone';
SELECT mimir.write('gone{i="1"}', '2024-01-01 00:00:00+00', 7, 'regress_blocks_gone');
SELECT labels::text, value FROM mimir.samples('gone', '2024-01-01', '2024-01-02', 'regress_blocks_gone');

DROP FUNCTION blk_sel(text);
DROP TABLE blk_selectors, blk_plain, blk_keys, blk_ids;
