-- Range functions over overlapping windows: max/min_over_time slide a deque
-- over each series, rate/increase find counter resets once per series.
-- Each range query is checked step by step against a direct computation
-- of Prometheus' definitions (the Go loops, transcribed in PL/pgSQL) over
-- the same samples, including NaN, -0 and 0 and counter resets.
SET timezone = 'UTC';
SET mimir.tenant = 'promql-window';

SELECT count(mimir.write(format('w{c="%s"}', c), '2024-01-01'::timestamptz + make_interval(secs => i * 15), v))
  FROM (SELECT 'mixed' AS c, i, (ARRAY[3, 'NaN', 1, 5, 2, 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 4, 4, -1, 0, '-0', 0, 7,
                                       'NaN', 2, 1]::float8[])[i + 1] AS v FROM generate_series(0, 19) i
        UNION ALL SELECT 'nan', i, 'NaN' FROM generate_series(0, 19) i
        UNION ALL SELECT 'zero', i, CASE WHEN i % 2 = 0 THEN '-0'::float8 ELSE 0 END FROM generate_series(0, 19) i
        UNION ALL SELECT 'counter', i, (ARRAY[10, 20, 5, 6, 30, 31, 1, 2, 3, 50, 60, 70, 0, 0, 10, 5, 100, 101, 102, 1])[i + 1]
          FROM generate_series(0, 19) i) d;

-- Prometheus' max_over_time / min_over_time loop
CREATE FUNCTION pw_extremum(vals float8[], want_max bool) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE m float8 := vals[1]; f float8;
BEGIN
  FOREACH f IN ARRAY vals LOOP
    -- float8 comparisons in SQL order NaN above everything: test it apart
    IF m = 'NaN' OR (f <> 'NaN' AND ((want_max AND f > m) OR (NOT want_max AND f < m))) THEN
      m := f;
    END IF;
  END LOOP;
  RETURN m;
END $$;

-- each step's window (t - range, t] of the series' samples, in time order
CREATE FUNCTION pw_windows(sel text, range interval, step interval)
  RETURNS TABLE(c text, t timestamptz, vals float8[]) LANGUAGE sql AS $$
  SELECT s.labels->>'c', g.t, array_agg(s.value ORDER BY s.t)
    FROM generate_series('2024-01-01 00:00:00+00'::timestamptz, '2024-01-01 00:05:00+00', step) g(t)
    JOIN mimir.samples(sel, '2023-12-31 23:50:00+00', '2024-01-01 00:10:00+00') s
      ON s.t > g.t - range AND s.t <= g.t
   GROUP BY 1, 2 $$;

CREATE FUNCTION pw_range(q text, step interval) RETURNS TABLE(c text, t timestamptz, value float8) LANGUAGE sql AS $$
  SELECT labels->>'c', t, value FROM mimir.query_range(q, '2024-01-01 00:00:00+00', '2024-01-01 00:05:00+00', step) $$;

-- max and min: every step of every series, values and the sign of zeros
SELECT fn, rng, step, count(*) AS steps,
       count(*) FILTER (WHERE r.value IS DISTINCT FROM w.expect
                           OR r.value::text IS DISTINCT FROM w.expect::text) AS mismatches
  FROM (VALUES ('max', '1m', '15s'), ('max', '2m', '15s'), ('max', '45s', '30s'), ('max', '5m', '1m'),
               ('min', '1m', '15s'), ('min', '2m', '15s'), ('min', '45s', '30s'), ('min', '5m', '1m')) AS p(fn, rng, step),
       LATERAL (SELECT c, t, pw_extremum(vals, fn = 'max') AS expect
                  FROM pw_windows('w', rng::interval, step::interval)) w
       FULL JOIN LATERAL pw_range(format('%s_over_time(w[%s])', fn, rng), step::interval) r USING (c, t)
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- a few of them, as they are
SELECT c, t, value FROM pw_range('max_over_time(w{c=~"mixed|zero"}[1m])', '1 minute') ORDER BY c, t;
SELECT c, t, value FROM pw_range('min_over_time(w{c=~"mixed|nan"}[1m])', '1 minute') ORDER BY c, t;

-- increase over windows holding several resets: Prometheus 3's
-- extrapolatedRate, each reset's correction added in order
CREATE FUNCTION pw_increase(vals float8[], ts float8[], t float8, rng float8) RETURNS float8
  LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  n int := array_length(vals, 1);
  r float8 := vals[n] - vals[1];
  dstart float8 := ts[1] - (t - rng);
  dend float8 := t - ts[n];
  sampled float8 := ts[n] - ts[1];
  avg float8 := sampled / (n - 1);
BEGIN
  FOR i IN 2 .. n LOOP
    IF vals[i] < vals[i - 1] THEN r := r + vals[i - 1]; END IF;
  END LOOP;
  IF dstart >= avg * 1.1 THEN dstart := avg / 2; END IF;
  IF r > 0 AND vals[1] >= 0 AND sampled * (vals[1] / r) < dstart THEN dstart := sampled * (vals[1] / r); END IF;
  IF dend >= avg * 1.1 THEN dend := avg / 2; END IF;
  RETURN r * (sampled + dstart + dend) / sampled;
END $$;
SELECT count(*) AS steps, count(*) FILTER (WHERE w.n >= 2 AND NOT coalesce(
         abs(r.value - pw_increase(w.vals, w.ts, extract(epoch FROM w.t)::float8, 120)) <= 1e-9 * greatest(abs(r.value), 1), false))
         AS mismatches,
       count(*) FILTER (WHERE w.n >= 2 AND EXISTS (SELECT 1 FROM generate_series(2, w.n) i WHERE w.vals[i] < w.vals[i - 1]))
         AS steps_with_resets
  FROM (SELECT g.t, array_agg(s.value ORDER BY s.t) AS vals,
               array_agg(extract(epoch FROM s.t)::float8 ORDER BY s.t) AS ts, count(*) AS n
          FROM generate_series('2024-01-01 00:00:00+00'::timestamptz, '2024-01-01 00:05:00+00', '15 seconds') g(t)
          JOIN mimir.samples('w{c="counter"}', '2023-12-31 23:50:00+00', '2024-01-01 00:10:00+00') s
            ON s.t > g.t - interval '2 minutes' AND s.t <= g.t
         GROUP BY g.t) w
  FULL JOIN pw_range('increase(w{c="counter"}[2m])', '15 seconds') r USING (t);
SELECT t, value FROM pw_range('resets(w{c="counter"}[2m])', '1 minute') ORDER BY t;
