#!/bin/bash
# Query benchmark (issue 4 "Speed and memory"): loads the standard rwload
# data set into mimir and into a local Prometheus (2.42 from Debian), then
# times, in one run, six range queries over the last hour at 60 s step on
# both systems (mimir through mimir.query_range, Prometheus through its HTTP
# API) and checks that both return the same series and values (1e-6
# relative). Prints a table with both timings and their ratio.
#
# Env: BENCH_SERIES (100000), BENCH_STEPS (240), BENCH_CONNS (4),
#      BENCH_RUNS (3, best of), BENCH_KEEP (1: leave data dirs).
# mimir is loaded through its remote-write endpoint when it accepts pushes;
# otherwise the very same requests are captured by test/bench_rw_dump and
# loaded through SQL (mimir.write), which the output says.
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/pgcluster.sh
SERIES=${BENCH_SERIES:-100000}
STEPS=${BENCH_STEPS:-240}
CONNS=${BENCH_CONNS:-4}
RUNS=${BENCH_RUNS:-3}
RWLOAD_SRC=$ROOT/../shared/bench/rwload.c
OUT=$ROOT/.bench/query
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$ROOT/.bench" "$OUT"

[ -f "$RWLOAD_SRC" ] || { echo "no $RWLOAD_SRC: skipping the query benchmark"; exit 0; }
if ! command -v prometheus >/dev/null; then
    [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    command -v prometheus >/dev/null || { echo "prometheus is not installed: skipping the query benchmark"; exit 0; }
fi
cc -O2 -o "$OUT/rwload" "$RWLOAD_SRC" -lsnappy -lpthread || exit 1
cc -O2 -o "$OUT/rw_dump" test/bench_rw_dump.c -lsnappy -lpthread || exit 1
make -s >/dev/null && make -s install >/dev/null || exit 1

PIDS=()
PGDIR=$OUT/pg
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    cluster_stop "$PGDIR"
}
trap cleanup EXIT

# Samples at START + k*15s; queries end 7 s after the last sample so that no
# window boundary falls on a sample (Prometheus 2.42 has left-closed windows,
# Prometheus 3 and mimir left-open ones: on such data both agree).
START=$(( ( $(date +%s) - STEPS * 15 ) * 1000 ))
END_MS=$(( START + (STEPS - 1) * 15000 + 7000 ))
BEGIN_MS=$(( END_MS - 3600000 ))

PORT=$(free_port); HTTP=$(free_port)
cluster_init "$PGDIR" "$PORT" "mimir.http_port = $HTTP" "shared_buffers = '2GB'" \
    "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "mimir.cut_interval = 0" \
    "work_mem = '64MB'" >/dev/null || exit 1
cluster_start "$PGDIR" || exit 1
PSQL="$PGBIN/psql -XAtq -h $PGDIR -p $PORT -U postgres"
$PSQL -c "CREATE EXTENSION mimir" >/dev/null || exit 1

echo "== query benchmark: rwload -s $SERIES -t $STEPS -c $CONNS =="
# mimir: remote write if the endpoint takes it, else the same requests via SQL
for i in $(seq 1 50); do curl -sf "http://127.0.0.1:$HTTP/ready" >/dev/null && break; sleep 0.2; done
if timeout 20 "$OUT/rwload" -u "http://127.0.0.1:$HTTP/api/v1/push" -s 1 -t 1 -o bench-probe -q >/dev/null 2>&1; then
    echo "loading mimir through POST /api/v1/push"
    "$OUT/rwload" -u "http://127.0.0.1:$HTTP/api/v1/push" -s "$SERIES" -t "$STEPS" -c "$CONNS" -T "$START" | tail -1
    LOADED_BY="remote write"
else
    echo "mimir has no working /api/v1/push here: capturing the same remote-write requests and loading them through SQL"
    DP=$(free_port)
    "$OUT/rw_dump" "$DP" "$OUT/series.tsv" "$OUT/samples.tsv" & PIDS+=($!)
    sleep 0.3
    "$OUT/rwload" -u "http://127.0.0.1:$DP/api/v1/push" -s "$SERIES" -t "$STEPS" -c "$CONNS" -T "$START" | tail -1
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'
    chmod 644 "$OUT"/*.tsv
    t0=$(date +%s.%N)
    $PSQL <<SQL || exit 1
SET mimir.tenant = 'anonymous';
CREATE UNLOGGED TABLE bench_series(id int PRIMARY KEY, s text);
CREATE UNLOGGED TABLE bench_samples(id int, t bigint, v float8);
\copy bench_series FROM '$OUT/series.tsv'
\copy bench_samples FROM '$OUT/samples.tsv'
CREATE INDEX ON bench_samples(t);
SQL
    for ((k = 0; k < STEPS; k += 10)); do
        $PSQL -c "SELECT count(mimir.write(s.s, to_timestamp(x.t / 1000.0), x.v)) FROM bench_samples x JOIN bench_series s USING (id)
                  WHERE x.t >= $START + $k * 15000 AND x.t < $START + ($k + 10) * 15000" >/dev/null || exit 1
    done
    $PSQL -c "DROP TABLE bench_samples" -c "DROP TABLE bench_series" >/dev/null
    echo "loaded $(($SERIES * $STEPS)) samples through SQL in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
    LOADED_BY="SQL (mimir.write)"
fi
# cut the head into chunks, as the cut worker does in steady state
$PSQL -c "SET mimir.chunk_max_samples = 240" -c "SELECT sum(mimir.cut_head(1000)) FROM generate_series(1, 200)" >/dev/null
$PSQL -c "VACUUM ANALYZE" >/dev/null

# Prometheus
PP=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$OUT/prom.yml"
prometheus --config.file="$OUT/prom.yml" --storage.tsdb.path="$OUT/prom" --web.listen-address="127.0.0.1:$PP" \
    --web.enable-remote-write-receiver --storage.tsdb.retention.time=100y >"$OUT/prom.log" 2>&1 & PIDS+=($!)
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$PP/-/ready" >/dev/null && break; sleep 0.2; done
"$OUT/rwload" -u "http://127.0.0.1:$PP/api/v1/write" -s "$SERIES" -t "$STEPS" -c "$CONNS" -T "$START" | tail -1

/usr/bin/python3 - "$PGDIR" "$PORT" "$PP" "$BEGIN_MS" "$END_MS" "$RUNS" "$LOADED_BY" <<'PY'
import bisect, io, json, math, sys, time, urllib.parse, urllib.request
import psycopg2

pgdir, port, pport, begin, end, runs, loaded_by = sys.argv[1:8]
begin, end, runs = int(begin), int(end), int(runs)
QUERIES = [
    'sum by (instance) (rate(node_cpu_seconds_total[5m]))',
    'rate(http_requests_total[5m])',
    'max_over_time(node_load1[10m])',
    'topk(5, sum by (rack) (rate(node_network_receive_bytes_total[5m])))',
    'count by (job) (up)',
    'histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))',
]
conn = psycopg2.connect(host=pgdir, port=port, user="postgres", dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
SQL = ("SELECT * FROM mimir.query_range(%s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0), '60 seconds')")

class Null(io.TextIOBase):
    def write(self, s):
        return len(s)

def mimir_time(q):
    sql = cur.mogrify(SQL, (q, begin, end)).decode()
    t = time.perf_counter()
    cur.copy_expert("COPY (%s) TO STDOUT" % sql, Null())
    return time.perf_counter() - t

def mimir_engine_time(q):
    t = time.perf_counter()
    cur.execute("SELECT count(*) FROM (%s) x" % cur.mogrify(SQL, (q, begin, end)).decode())
    cur.fetchall()
    return time.perf_counter() - t

def prom_url(q):
    return "http://127.0.0.1:%s/api/v1/query_range?%s" % (pport, urllib.parse.urlencode(
        {"query": q, "start": "%.3f" % (begin / 1000), "end": "%.3f" % (end / 1000), "step": "60"}))

def prom_time(q):
    t = time.perf_counter()
    with urllib.request.urlopen(prom_url(q)) as r:
        r.read()
    return time.perf_counter() - t

def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    return abs(a - b) / max(abs(a), abs(b)) <= 1e-6

def fetch_prom(q):
    with urllib.request.urlopen(prom_url(q)) as r:
        res = json.load(r)
    return {tuple(sorted(s["metric"].items())): {int(round(float(t) * 1000)): float(v) for t, v in s["values"]}
            for s in res["data"]["result"]}

def fetch_mimir(q):
    cur.execute(SQL, (q, begin, end))
    mine = {}
    for labels, t, v in cur.fetchall():
        mine.setdefault(tuple(sorted(labels.items())), {})[int(round(t.timestamp() * 1000))] = v
    return mine

def diff(a, b):
    """None if a and b hold the same series and values, else why not."""
    if set(a) != set(b):
        return "series differ: %d vs %d, e.g. %s" % (len(a), len(b), list(set(a) ^ set(b))[:1])
    for k in a:
        if set(a[k]) != set(b[k]):
            return "timestamps differ for %s" % (dict(k),)
        for t in a[k]:
            if not close(a[k][t], b[k][t]):
                return "value differs for %s at %d: %r vs %r" % (dict(k), t, a[k][t], b[k][t])
    return None

# rate() as Prometheus computes it: since 2.51 (PR 13725, so in 3.x) the
# extrapolation is limited by the counter's zero point only after the
# "series starts within the range" rule; 2.42 did it the other way round.
# They differ when a window starts before the data and the "counter" was
# reset (rwload also sends gauges named *_total).
def rate(w, t, rng, v3):
    if len(w) < 2:
        return None
    first_t, first_v = w[0]; last_t, last_v = w[-1]
    result = last_v - first_v
    for (pt, pv), (ct, cv) in zip(w, w[1:]):
        if cv < pv:
            result += pv
    dstart = (first_t - (t - rng)) / 1000.0
    dend = (t - last_t) / 1000.0
    sampled = (last_t - first_t) / 1000.0
    avg = sampled / (len(w) - 1)
    thr = avg * 1.1
    if v3:
        if dstart >= thr:
            dstart = avg / 2
        if result > 0 and first_v >= 0:
            dstart = min(dstart, sampled * (first_v / result))
    else:
        if result > 0 and first_v >= 0:
            dstart = min(dstart, sampled * (first_v / result))
        if dstart >= thr:
            dstart = avg / 2
    if dend >= thr:
        dend = avg / 2
    return result * (sampled + dstart + dend) / sampled / (rng / 1000.0)

RATE_MODELS = {   # query -> (metric, group labels or None, topk)
    'sum by (instance) (rate(node_cpu_seconds_total[5m]))': ('node_cpu_seconds_total', ['instance'], None),
    'rate(http_requests_total[5m])': ('http_requests_total', None, None),
    'topk(5, sum by (rack) (rate(node_network_receive_bytes_total[5m])))': ('node_network_receive_bytes_total', ['rack'], 5),
}

def model(q, v3):
    metric, group, k = RATE_MODELS[q]
    cur.execute("SELECT labels, (extract(epoch FROM t) * 1000)::bigint, value FROM mimir.samples(%s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0))",
                (metric, begin - 300000, end))
    series = {}
    for labels, t, v in cur.fetchall():
        series.setdefault(tuple(sorted(labels.items())), []).append((t, v))
    out = {}
    for key, pts in series.items():
        pts.sort()
        ts = [p[0] for p in pts]
        for t in range(begin, end + 1, 60000):
            w = pts[bisect.bisect_right(ts, t - 300000):bisect.bisect_right(ts, t)]
            r = rate(w, t, 300000, v3)
            if r is None:
                continue
            if group is None:
                out.setdefault(tuple(kv for kv in key if kv[0] != "__name__"), {})[t] = r
            else:
                g = tuple(kv for kv in key if kv[0] in group)
                out.setdefault(g, {}).setdefault(t, []).append(r)
    if group is not None:
        out = {g: {t: math.fsum(v) for t, v in pts.items()} for g, pts in out.items()}
    if k:
        top = {}
        for t in range(begin, end + 1, 60000):
            vals = sorted(((pts[t], g) for g, pts in out.items() if t in pts), reverse=True)[:k]
            for v, g in vals:
                top.setdefault(g, {})[t] = v
        out = top
    return out

def compare(q):
    mine, theirs = fetch_mimir(q), fetch_prom(q)
    why = diff(mine, theirs)
    if why is None:
        return "same (%d series, %d points)" % (len(mine), sum(len(v) for v in mine.values()))
    if q not in RATE_MODELS:
        return "DIFFERENT: " + why
    m3, m2 = model(q, True), model(q, False)
    w3, w2 = diff(mine, m3), diff(theirs, m2)
    if w3 is None and w2 is None:
        n = sum(1 for k in mine for t in mine[k] if not (k in theirs and t in theirs[k] and close(mine[k][t], theirs[k][t])))
        return ("same except %d points of windows before the first sample, where Prometheus 3 "
                "extrapolates differently from 2.42 (PR 13725); both match their version's formula" % n)
    return "DIFFERENT: %s (mimir vs 3.x formula: %s; prometheus vs 2.42 formula: %s)" % (why, w3, w2)

print("range: last hour [%d, %d] step 60s; mimir loaded by %s; best of %d runs" % (begin, end, loaded_by, runs))
print("mimir ms: rows produced and sent (COPY); engine ms: rows produced, not sent")
print("%-72s %9s %9s %9s %6s  %s" % ("query", "mimir ms", "engine ms", "prom ms", "ratio", "results"))
bad = 0
for q in QUERIES:
    mimir_time(q); prom_time(q)          # warm both
    m = min(mimir_time(q) for _ in range(runs))
    e = min(mimir_engine_time(q) for _ in range(runs))
    p = min(prom_time(q) for _ in range(runs))
    verdict = compare(q)
    if verdict.startswith("DIFFERENT"):
        bad += 1
    print("%-72s %9.1f %9.1f %9.1f %6.2f  %s" % (q, m * 1000, e * 1000, p * 1000, m / p, verdict), flush=True)
sys.exit(1 if bad else 0)
PY
rc=$?
echo "query benchmark results: $( [ $rc = 0 ] && echo 'all results agree' || echo 'RESULTS DIFFER')"
exit $rc
