-- mimir.write and reading back through samples / series / label_names / label_values
SET timezone = 'UTC';
SET mimir.tenant = 'regress_write_read';  -- own tenant: tests must not see each other's data
SET extra_float_digits = 3;

SELECT mimir.write('http_requests_total{job="api",code="200"}', '2024-01-01 00:00:00+00', 1);
SELECT mimir.write('http_requests_total{job="api",code="200"}', '2024-01-01 00:00:15+00', 2);
SELECT mimir.write('http_requests_total{code="500", job="api"}', '2024-01-01 00:00:00+00', 0);
SELECT mimir.write('{__name__="http_requests_total",job="web",code="200"}', '2024-01-01 00:00:00+00', 10);
SELECT mimir.write('up{job="api",instance="a:9090"}', t, 1)
  FROM generate_series('2024-01-01 00:00:00+00'::timestamptz, '2024-01-01 00:01:00+00', '15 s') t;
-- out of order (backfill) is accepted
SELECT mimir.write('http_requests_total{job="api",code="200"}', '2023-12-31 23:59:45+00', 0.5);
-- the same sample again is a no-op
SELECT mimir.write('http_requests_total{job="api",code="200"}', '2024-01-01 00:00:15+00', 2);
-- an empty label value is no label
SELECT mimir.write('up{job="api",instance="a:9090",zone=""}', '2024-01-01 00:01:15+00', 0);
-- a different value for an existing timestamp is an error
SELECT mimir.write('http_requests_total{job="api",code="200"}', '2024-01-01 00:00:15+00', 3);

SELECT * FROM mimir.samples('http_requests_total', '2023-12-31', '2024-01-02');
SELECT * FROM mimir.samples('up', '2024-01-01 00:00:15+00', '2024-01-01 00:00:45+00');
SELECT * FROM mimir.series('{job="api"}', '2023-12-31', '2024-01-02');
SELECT * FROM mimir.series('{job="api"}', '2024-01-01 00:00:30+00', '2024-01-02');
SELECT * FROM mimir.label_names();
SELECT * FROM mimir.label_names('up');
SELECT * FROM mimir.label_values('job');
SELECT * FROM mimir.label_values('code', 'http_requests_total{job="api"}');
SELECT * FROM mimir.label_values('job', NULL, '2024-01-01 00:01:00+00', '2024-01-02');
SELECT * FROM mimir.label_values('nope');

-- the staleness marker keeps its bits
SELECT mimir.write('up{job="api",instance="a:9090"}', '2024-01-01 00:01:30+00', mimir.stale_marker());
SELECT t, float8send(value) = float8send(mimir.stale_marker()) AS is_stale
  FROM mimir.samples('up', '2024-01-01 00:01:30+00', '2024-01-01 00:01:30+00');

-- a transaction reads its own writes; rollback removes them
BEGIN;
SELECT mimir.write('tx_metric', '2024-01-01 00:00:00+00', 42);
SELECT * FROM mimir.samples('tx_metric', '2024-01-01', '2024-01-02');
ROLLBACK;
SELECT count(*) FROM mimir.samples('tx_metric', '2024-01-01', '2024-01-02');
SELECT count(*) FROM mimir.series('tx_metric', '2024-01-01', '2024-01-02');
-- the series created in the rolled-back transaction can be written again
SELECT mimir.write('tx_metric', '2024-01-01 00:00:00+00', 43);
SELECT * FROM mimir.samples('tx_metric', '2024-01-01', '2024-01-02');

-- savepoints: samples written after a rolled-back savepoint are gone, others stay
BEGIN;
SELECT mimir.write('sp_metric{k="a"}', '2024-01-01 00:00:00+00', 1);
SAVEPOINT s1;
SELECT mimir.write('sp_metric{k="a"}', '2024-01-01 00:00:15+00', 2);
SELECT mimir.write('sp_metric{k="b"}', '2024-01-01 00:00:15+00', 2);
SELECT count(*) FROM mimir.samples('sp_metric', '2024-01-01', '2024-01-02');
ROLLBACK TO s1;
SELECT mimir.write('sp_metric{k="a"}', '2024-01-01 00:00:30+00', 3);
COMMIT;
SELECT * FROM mimir.samples('sp_metric', '2024-01-01', '2024-01-02');

-- many writes in one statement; a plpgsql loop with an exception block
SELECT count(mimir.write(format('bulk{i="%s"}', i % 10), '2024-01-01'::timestamptz + i * interval '1 s', i))
  FROM generate_series(1, 1000) i;
SELECT count(*), sum(value) FROM mimir.samples('bulk', '2024-01-01', '2024-01-02');
DO $$
BEGIN
  FOR i IN 1 .. 5 LOOP
    BEGIN
      PERFORM mimir.write('loop_metric', '2024-01-01'::timestamptz + i * interval '1 min', i);
      IF i = 3 THEN RAISE EXCEPTION 'boom'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END LOOP;
END $$;
SELECT value FROM mimir.samples('loop_metric', '2024-01-01', '2024-01-02');

-- the inverted index: one label pair per distinct (name, value), series as pair ids
SELECT count(*) AS pairs FROM mimir.label_pairs lp JOIN mimir.tenants t ON t.id = lp.tenant_id WHERE t.name = 'regress_write_read' AND lp.name = 'job';
