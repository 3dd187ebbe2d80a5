"""Timing and cross-check half of test/bench_query.sh (see there).

Usage: bench_query.py PGDIR PGPORT MIMIR_HTTP_PORT PROM_PORT BEGIN_MS END_MS RUNS LOADED_BY STATE TABLE_FILE

For each query: mimir over HTTP (POST /prometheus/api/v1/query_range as
Grafana sends it), Prometheus over HTTP (the same request to its
/api/v1/query_range), mimir through SQL (COPY of mimir.query_range's rows to
the client) and the engine alone (count(*) of those rows: produced, not
sent), best of RUNS after one warm-up each. Then the results are compared:
mimir's HTTP answer with Prometheus' (same series, same timestamps, values
within 1e-6 relative), and mimir's SQL rows with its HTTP answer.
"""
import bisect
import http.client
import io
import json
import math
import sys
import time
import urllib.parse

import psycopg2

pgdir, port, hport, pport, begin, end, runs, loaded_by, state, table_file = sys.argv[1:11]
begin, end, runs = int(begin), int(end), int(runs)
QUERIES = [
    'sum by (instance) (rate(node_cpu_seconds_total[5m]))',
    'rate(http_requests_total[5m])',
    'max_over_time(node_load1[10m])',
    'topk(5, sum by (rack) (rate(node_network_receive_bytes_total[5m])))',
    'count by (job) (up)',
    'histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))',
]
STEP = 60
conn = psycopg2.connect(host=pgdir, port=port, user="postgres", dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
SQL = ("SELECT * FROM mimir.query_range(%s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0), '60 seconds')")


class Null(io.TextIOBase):
    def write(self, s):
        return len(s)


class Http:
    """A keep-alive client posting form-encoded range queries, as Grafana does."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def post(self, q):
        body = urllib.parse.urlencode({"query": q, "start": "%.3f" % (begin / 1000),
                                       "end": "%.3f" % (end / 1000), "step": str(STEP)})
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        for attempt in range(2):
            try:
                self.c.request("POST", self.path, body, hdrs)
                r = self.c.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt:
                    raise
        if r.status != 200:
            raise RuntimeError("HTTP %d from port %s: %s" % (r.status, self.port, data[:300]))
        return data


mimir_http = Http(hport, "/prometheus/api/v1/query_range")
prom_http = Http(pport, "/api/v1/query_range")


def timed(fn, q):
    t = time.perf_counter()
    fn(q)
    return time.perf_counter() - t


def sql_copy(q):
    cur.copy_expert("COPY (%s) TO STDOUT" % cur.mogrify(SQL, (q, begin, end)).decode(), Null())


def sql_engine(q):
    cur.execute("SELECT count(*) FROM (%s) x" % cur.mogrify(SQL, (q, begin, end)).decode())
    cur.fetchall()


def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    return abs(a - b) / max(abs(a), abs(b)) <= 1e-6


def parse_matrix(body):
    res = json.loads(body)
    if res.get("status") != "success" or res["data"]["resultType"] != "matrix":
        raise RuntimeError("unexpected answer: %s" % body[:300])
    return {tuple(sorted(s["metric"].items())): {int(round(float(t) * 1000)): float(v) for t, v in s["values"]}
            for s in res["data"]["result"]}


def fetch_sql(q):
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
    first_t, first_v = w[0]
    last_t, last_v = w[-1]
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
        for t in range(begin, end + 1, STEP * 1000):
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
        for t in range(begin, end + 1, STEP * 1000):
            vals = sorted(((pts[t], g) for g, pts in out.items() if t in pts), reverse=True)[:k]
            for v, g in vals:
                top.setdefault(g, {})[t] = v
        out = top
    return out


def compare(q):
    mine, theirs = parse_matrix(mimir_http.post(q)), parse_matrix(prom_http.post(q))
    by_sql = fetch_sql(q)
    if diff(mine, by_sql) is not None:
        return "DIFFERENT: mimir's SQL rows and HTTP answer differ: " + diff(mine, by_sql)
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


print("range: last hour [%d, %d] step %ds; mimir loaded by %s; state: %s; best of %d runs"
      % (begin, end, STEP, loaded_by, state, runs))
print("HTTP: POST query_range, form-encoded, JSON read completely (mimir /prometheus/api/v1, Prometheus /api/v1)")
print("SQL: mimir.query_range rows sent to the client (COPY); engine: rows produced, not sent")
hdr = "%-72s %9s %9s %6s %9s %6s %9s %8s" % ("query", "mimir", "prom", "ratio", "mimir", "ratio", "engine", "JSON")
hdr2 = "%-72s %9s %9s %6s %9s %6s %9s %8s" % ("", "HTTP ms", "HTTP ms", "", "SQL ms", "", "ms", "KiB")
print(hdr)
print(hdr2)
lines = [hdr, hdr2]
bad = 0
ratios = []
for q in QUERIES:
    size = len(mimir_http.post(q))          # warm both
    prom_http.post(q)
    sql_copy(q)
    h = min(timed(mimir_http.post, q) for _ in range(runs))
    p = min(timed(prom_http.post, q) for _ in range(runs))
    s = min(timed(sql_copy, q) for _ in range(runs))
    e = min(timed(sql_engine, q) for _ in range(runs))
    verdict = compare(q)
    if verdict.startswith("DIFFERENT"):
        bad += 1
    ratios.append(h / p)
    line = "%-72s %9.1f %9.1f %6.2f %9.1f %6.2f %9.1f %8d" % (q, h * 1000, p * 1000, h / p, s * 1000, s / p, e * 1000, size // 1024)
    print(line + "  " + verdict, flush=True)
    lines.append(line)
summary = "state %s: HTTP mimir/Prometheus ratio max %.2f, geometric mean %.2f" % (
    state, max(ratios), math.exp(sum(math.log(r) for r in ratios) / len(ratios)))
print(summary)
lines.append(summary)
with open(table_file, "w") as f:
    f.write("\n".join(lines) + "\n")
sys.exit(1 if bad else 0)
