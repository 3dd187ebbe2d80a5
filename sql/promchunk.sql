-- promchunk: building, opening and validating chunks
SET timezone = 'UTC';
SET extra_float_digits = 3;

-- unsorted input is sorted; duplicates with the same value collapse
CREATE TEMP TABLE s(t timestamptz, v float8);
INSERT INTO s VALUES
  ('2024-01-01 00:00:30+00', 3), ('2024-01-01 00:00:00+00', 1),
  ('2024-01-01 00:00:15+00', 2), ('2024-01-01 00:00:15+00', 2),
  ('2024-01-01 00:01:07.5+00', 2.25), ('2024-01-01 00:00:45+00', NULL);
SELECT mimir.chunk_count(c), mimir.chunk_start(c), mimir.chunk_end(c)
  FROM (SELECT mimir.chunk_agg(t, v) AS c FROM s) x;
SELECT * FROM mimir.chunk_samples((SELECT mimir.chunk_agg(t, v) FROM s));

-- no rows: NULL
SELECT mimir.chunk_agg(t, v) IS NULL AS is_null FROM s WHERE false;

-- every float64 comes back bit-exact: NaN payloads (staleness marker), ±Inf, -0, subnormals
CREATE TEMP TABLE edge(i int, v float8);
INSERT INTO edge VALUES
  (1, mimir.stale_marker()), (2, 'NaN'), (3, 'Infinity'), (4, '-Infinity'),
  (5, '-0'), (6, 0), (7, 4.9e-324), (8, -2.2250738585072014e-308),
  (9, 1.7976931348623157e308), (10, 0.1), (11, 123456789.125), (12, -1e-300);
SELECT float8send(mimir.stale_marker()) AS stale_bits;
WITH c AS (SELECT mimir.chunk_agg('2000-01-01'::timestamptz + i * interval '1 ms', v) AS c FROM edge)
SELECT count(*) AS samples,
       bool_and(float8send(e.v) = float8send(x.value)) AS bit_exact
  FROM c, mimir.chunk_samples(c.c) x
  JOIN edge e ON x.t = '2000-01-01'::timestamptz + e.i * interval '1 ms';

-- timestamps: before 1970, 1970 itself, irregular gaps, far future
WITH c AS (SELECT mimir.chunk_agg(t, 1) AS c FROM unnest(ARRAY[
    '1969-12-31 23:59:59.999+00', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00.001+00',
    '1901-01-01 00:00:00+00', '2024-02-29 12:00:00.123+00', '9999-12-31 23:59:59.999+00']::timestamptz[]) t)
SELECT x.t FROM c, mimir.chunk_samples(c.c) x;

-- integer counters and two-decimal gauges compress well
SELECT mimir.chunk_count(c) AS n, octet_length(c::bytea) < 120 AS small_counter
  FROM (SELECT mimir.chunk_agg('2024-01-01'::timestamptz + g * interval '15 s', g * 17) AS c
          FROM generate_series(1, 240) g) x;
SELECT octet_length(c::bytea) < 400 AS small_gauge
  FROM (SELECT mimir.chunk_agg('2024-01-01'::timestamptz + g * interval '15 s', round((50 + 10 * sin(g / 10.0))::numeric, 2)::float8) AS c
          FROM generate_series(1, 240) g) x;

-- text round trip
CREATE TEMP TABLE c AS
  SELECT mimir.chunk_agg('2024-01-01'::timestamptz + g * interval '15 s', g / 4.0) AS c FROM generate_series(1, 100) g;
SELECT c::text::mimir.promchunk::bytea = c::bytea AS text_roundtrip FROM c;
-- binary send / recv round trip through COPY BINARY
SELECT mimir.promchunk_send(c) = c::bytea AS send_is_payload FROM c;
-- (through a file in the cluster's own data directory, so parallel test
-- clusters never share it)
CREATE TEMP TABLE c2 (c mimir.promchunk);
DO $$
DECLARE f text := current_setting('data_directory') || '/mimir_regress_promchunk.bin';
BEGIN
  EXECUTE format('COPY c TO %L (FORMAT binary)', f);
  EXECUTE format('COPY c2 FROM %L (FORMAT binary)', f);
END $$;
SELECT c2.c::bytea = c.c::bytea AS binary_roundtrip, mimir.chunk_count(c2.c) FROM c, c2;
-- bytea cast validates
SELECT mimir.chunk_count(c::bytea::mimir.promchunk) FROM c;

-- malformed input never crashes, always errors
SELECT ''::mimir.promchunk;
SELECT 'hello'::mimir.promchunk;
SELECT '\x0'::mimir.promchunk;
SELECT '\xzz'::mimir.promchunk;
SELECT '\x'::mimir.promchunk;
SELECT '\xffffffffffffffffffff'::mimir.promchunk;
SELECT '\x00'::bytea::mimir.promchunk;
SELECT substr(c::bytea, 1, octet_length(c::bytea) - 1)::mimir.promchunk FROM c;
SELECT (c::bytea || '\x00'::bytea)::mimir.promchunk FROM c;
-- every truncation and many corruptions of a valid chunk are rejected or decode to valid data
DO $$
DECLARE
  b bytea := (SELECT c::bytea FROM c);
  bad int := 0;
  ok int := 0;
BEGIN
  FOR i IN 0 .. octet_length(b) - 1 LOOP
    BEGIN
      PERFORM substr(b, 1, i)::mimir.promchunk;
      ok := ok + 1;
    EXCEPTION WHEN data_corrupted THEN bad := bad + 1;
    END;
  END LOOP;
  RAISE NOTICE 'truncations: % accepted, % rejected', ok, bad;
  FOR i IN 0 .. octet_length(b) - 1 LOOP
    FOR bit IN 0 .. 7 LOOP
      BEGIN
        PERFORM count(*) FROM mimir.chunk_samples(set_bit(b, i * 8 + bit, 1 - get_bit(b, i * 8 + bit))::mimir.promchunk);
      EXCEPTION WHEN data_corrupted THEN NULL;
      END;
    END LOOP;
  END LOOP;
  RAISE NOTICE 'bit flips survived';
END $$;

-- the stored format is pinned: this chunk must keep decoding to the same samples
SELECT mimir.chunk_agg(t, v)::text AS chunk_text
  FROM (VALUES ('2024-01-01 00:00:00+00'::timestamptz, 1.5::float8), ('2024-01-01 00:00:15+00', 2.25),
               ('2024-01-01 00:00:30+00', mimir.stale_marker())) x(t, v);
SELECT t, float8send(value) AS bits
  FROM mimir.chunk_samples('\x02200380d08fa59863b0ea01389875020002004b0401060104'::mimir.promchunk);
-- an empty chunk (chunk_agg never builds one, but it is a valid value)
SELECT mimir.chunk_count(c), mimir.chunk_start(c), mimir.chunk_end(c),
       (SELECT count(*) FROM mimir.chunk_samples(c)) AS samples
  FROM (SELECT '\x020000'::mimir.promchunk AS c) x;
-- unknown format version, unknown coding, inconsistent header
SELECT '\x010000'::mimir.promchunk;
SELECT '\x020100'::mimir.promchunk;
SELECT '\x021000'::mimir.promchunk;
SELECT '\x020001000000'::mimir.promchunk;
SELECT '\x02000200000000'::mimir.promchunk;

-- two-decimal gauge with staleness markers mixed in: every bit survives, and
-- the markers cost next to nothing
CREATE TEMP TABLE g AS
  SELECT '2024-01-01'::timestamptz + i * interval '15 s' + (i % 7) * interval '1 ms' AS t,
         CASE WHEN i % 40 = 0 THEN mimir.stale_marker()
              ELSE round((50 + 10 * sin(i / 10.0))::numeric, 2)::float8 END AS v
    FROM generate_series(1, 240) i;
CREATE TEMP TABLE gc AS SELECT mimir.chunk_agg(t, v) AS c FROM g;
SELECT mimir.chunk_count(c), octet_length(c::bytea) < 300 AS small,
       get_byte(c::bytea, 1) >> 4 AS value_coding,
       (SELECT count(*) FROM mimir.chunk_samples(c) x WHERE float8send(x.value) = '\x7ff0000000000002') AS stale_markers,
       (SELECT bool_and(float8send(x.value) = float8send(g.v)) FROM mimir.chunk_samples(c) x JOIN g ON g.t = x.t) AS bit_exact
  FROM gc;
-- arbitrary doubles (no decimal form) take the XOR path (value coding 1, vs
-- 2 for decimals above) and stay bit-exact
SELECT setseed(0.25);
CREATE TEMP TABLE r AS
  SELECT '1969-12-31'::timestamptz + i * interval '1 s' AS t, 1000 + random() AS v
    FROM generate_series(1, 500) i;
SELECT count(*) AS samples, bool_and(float8send(x.value) = float8send(r.v)) AS bit_exact,
       min(get_byte(c.c::bytea, 1) >> 4) AS value_coding
  FROM (SELECT mimir.chunk_agg(t, v) AS c FROM r) c, mimir.chunk_samples(c.c) x JOIN r ON r.t = x.t;
-- truncations and bit flips of these chunks too
DO $$
DECLARE
  b bytea;
  accepted int := 0;
BEGIN
  FOR b IN SELECT c::bytea FROM gc UNION ALL SELECT mimir.chunk_agg(t, v)::bytea FROM r LOOP
    FOR i IN 0 .. octet_length(b) - 1 LOOP
      BEGIN
        PERFORM substr(b, 1, i)::mimir.promchunk;
        accepted := accepted + 1;
      EXCEPTION WHEN data_corrupted THEN NULL;
      END;
    END LOOP;
    FOR i IN 0 .. least(octet_length(b), 200) - 1 LOOP
      FOR bit IN 0 .. 7 LOOP
        BEGIN
          PERFORM count(*) FROM mimir.chunk_samples(set_bit(b, i * 8 + bit, 1 - get_bit(b, i * 8 + bit))::mimir.promchunk);
        EXCEPTION WHEN data_corrupted THEN NULL;
        END;
      END LOOP;
    END LOOP;
  END LOOP;
  RAISE NOTICE 'truncated chunks accepted: %; bit flips survived', accepted;
END $$;

-- conflicting duplicates are an error
SELECT mimir.chunk_agg(t, v) FROM (VALUES ('2024-01-01'::timestamptz, 1.0::float8), ('2024-01-01', 2.0)) x(t, v);
SELECT mimir.chunk_agg(t, 1) FROM (VALUES ('infinity'::timestamptz)) x(t);
