#!/usr/bin/python3
"""HTTP tests of the remote-write endpoint: every status code, Mimir's
messages, read-after-write through SQL, tenants, HA dedup, limits."""
import os
import sys
import time
import urllib.error
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rwproto import snappy, write_request, write_request_v2  # noqa: E402

HTTP = "http://127.0.0.1:%s" % os.environ["MIMIR_HTTP_PORT"]
conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres")
conn.autocommit = True
NOW = int(time.time() * 1000)
passed = failed = 0


def sql(q, *args):
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


def post(path, body, ctype="application/x-protobuf", headers=None, method="POST"):
    h = {"Content-Type": ctype, "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0"}
    h.update(headers or {})
    req = urllib.request.Request(HTTP + path, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def push(series, meta=(), **kw):
    return post("/api/v1/push", snappy(write_request(series, meta)), **kw)


def reload_conf(setting, value):
    sql("ALTER SYSTEM SET %s = %s" % (setting, value))
    sql("SELECT pg_reload_conf()")
    time.sleep(1.5)


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   ", name)
    else:
        failed += 1
        print("FAIL ", name, detail)


def samples(sel, tenant="anonymous"):
    return sql("SELECT labels::text, (extract(epoch FROM t) * 1000)::bigint, value FROM mimir.samples(%s, "
               "to_timestamp(0), now() + interval '1 hour', %s)", sel, tenant)


for _ in range(100):
    try:
        with urllib.request.urlopen(HTTP + "/ready", timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    time.sleep(0.2)
st, body, _ = post("/ready", None, method="GET")
check("GET /ready is 200 once the extension exists", st == 200, (st, body))

# success, read-after-write
st, body, _ = push([([("__name__", "rw_up"), ("job", "a")], [(NOW - 2000, 1.0), (NOW - 1000, 2.0)], [])])
check("push: 200 with an empty body", st == 200 and body == "", (st, body))
rows = samples("rw_up")
check("read-after-write through mimir.samples", [r[1:] for r in rows] == [(NOW - 2000, 1.0), (NOW - 1000, 2.0)], rows)
st, body, _ = post("/api/v1/write", snappy(write_request([([("__name__", "rw_up"), ("job", "b")], [(NOW, 5.0)], [])])))
check("Prometheus' path /api/v1/write works too", st == 200 and len(samples('rw_up{job="b"}')) == 1, (st, body))

# staleness marker bits survive
import struct  # noqa: E402
stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
st, body, _ = push([([("__name__", "rw_stale")], [(NOW - 5000, 1.0), (NOW - 4000, stale)], [])])
r = sql("SELECT float8send(value) = float8send(mimir.stale_marker()) FROM mimir.samples('rw_stale', to_timestamp(0), now()) ORDER BY t DESC LIMIT 1")
check("staleness marker stored bit-exact", st == 200 and r == [(True,)], (st, body, r))

# malformed input
st, body, _ = post("/api/v1/push", b"\xff\xff\xff\xff\x0fgarbage")
check("bad snappy: 400", st == 400 and body, (st, body))
st, body, _ = post("/api/v1/push", snappy(b"\x0a\x05\x0a\x03"))
check("truncated protobuf: 400", st == 400 and body, (st, body))
st, body, _ = post("/api/v1/push", snappy(write_request([([("__name__", "x")], [(NOW, 1)], [])])),
                   ctype="application/x-protobuf;proto=foo.Bar")
check("unknown proto=: 415", st == 415, (st, body))
st, body, _ = post("/api/v1/push", None, method="GET")
check("GET on push: 405", st == 405, (st, body))
st, body, _ = post("/nope", None, method="GET")
check("unknown path: 404", st == 404, (st, body))

# validation: the valid series of a request are stored, the answer is 400
st, body, _ = push([([("__name__", "rw_ok")], [(NOW, 1.0)], []),
                    ([("__name__", "bad-name")], [(NOW, 1.0)], [])])
check("invalid metric name: 400 naming it", st == 400 and "err-mimir-metric-name-invalid" in body and "bad-name" in body, (st, body))
check("...while the valid series is stored", len(samples("rw_ok")) == 1)
st, body, _ = push([([("job", "x")], [(NOW, 1.0)], [])])
check("missing metric name: 400", st == 400 and "err-mimir-missing-metric-name" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l")] + [("l%02d" % i, "v") for i in range(31)], [(NOW, 1.0)], [])])
check("too many labels: 400", st == 400 and "err-mimir-max-label-names-per-series" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", "x" * 3000)], [(NOW, 1.0)], [])])
check("label value too long: 400", st == 400 and "err-mimir-label-value-too-long" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", b"\xff\xfe")], [(NOW, 1.0)], [])])
check("non-UTF-8 label value: 400", st == 400, (st, body))
st, body, _ = push([([("__name__", "rw_future")], [(NOW + 3600 * 1000, 1.0)], [])])
check("sample too far in the future: 400", st == 400 and "err-mimir-too-far-in-future" in body, (st, body))

# ordering rules (ingester)
push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])])
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 5000, 1.0)], [])])
check("out-of-order sample: 400", st == 400 and "err-mimir-sample-out-of-order" in body, (st, body))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])])
check("identical duplicate: 200", st == 200, (st, body))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 1000, 7.0)], [])])
check("same timestamp, new value: 400", st == 400 and "err-mimir-sample-duplicate-timestamp" in body, (st, body))
check("...and nothing changed", [r[2] for r in samples("rw_ooo")] == [1.0])
sql("SELECT mimir.set_limit('out_of_order_time_window', '1h', 'ooo-tenant')")
push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])], headers={"X-Scope-OrgID": "ooo-tenant"})

# SQL writes and remote writes agree on the latest sample
sql("SELECT mimir.write('rw_mixed', to_timestamp(%s / 1000.0), 1)", NOW - 1000)
st, body, _ = push([([("__name__", "rw_mixed")], [(NOW - 2000, 3.0)], [])])
check("remote write after a newer SQL write is out of order", st == 400 and "out-of-order" in body, (st, body))

# metadata and exemplars
st, body, _ = push([([("__name__", "rw_ex_total")], [(NOW, 1.0)], [([("trace_id", "abc")], 1.0, NOW)])],
                   meta=[(1, "rw_ex_total", "a counter", "seconds")])
check("metadata stored", sql("SELECT type, help, unit FROM mimir.metadata WHERE metric = 'rw_ex_total'") ==
      [("counter", "a counter", "seconds")], (st, body))
check("exemplars stored", sql("SELECT labels::text, value FROM mimir.exemplars e JOIN mimir.series s ON s.id = e.series_id") ==
      [('{"trace_id": "abc"}', 1.0)])

# remote write 2.0
body2 = write_request_v2(["", "__name__", "rw_v2", "job", "x"], [([1, 2, 3, 4], [(NOW, 3.0), (NOW + 1, 4.0)])])
st, body, hdr = post("/api/v1/push", snappy(body2), ctype="application/x-protobuf;proto=io.prometheus.write.v2.Request",
                     headers={"X-Prometheus-Remote-Write-Version": "2.0.0"})
check("remote write 2.0: 204/200 with written-samples header", st in (200, 204) and
      hdr.get("X-Prometheus-Remote-Write-Samples-Written") == "2" and len(samples("rw_v2")) == 2, (st, body, hdr))
st, body, _ = post("/api/v1/push", snappy(write_request_v2(["", "__name__"], [([1, 9], [(NOW, 1.0)])])),
                   ctype="application/x-protobuf;proto=io.prometheus.write.v2.Request")
check("v2 bad symbol reference: 400", st == 400, (st, body))

# /metrics
st, body, _ = post("/metrics", None, method="GET")
check("/metrics counts received samples by tenant", st == 200 and
      'cortex_distributor_received_samples_total{user="anonymous"}' in body, (st, body[:300]))
check("/metrics counts discarded samples by reason", 'cortex_discarded_samples_total{reason="metric_name_invalid",user="anonymous"}' in body
      or 'reason="metric_name_invalid"' in body, body[:2000])
check("/metrics has the request duration histogram", 'cortex_request_duration_seconds_bucket{method="POST",route="api_v1_push"' in body)

# HA dedup
sql("SELECT mimir.set_default_limit('accept_ha_samples', 'true')")
reload_conf("mimir.cut_interval", "'1s'")  # also lets the workers reload limits
time.sleep(9)
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "a"), ("cluster", "c1")], [(NOW, 1.0)], [])])
check("HA: the first replica is elected", st == 200, (st, body))
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "b"), ("cluster", "c1")], [(NOW + 1, 2.0)], [])])
check("HA: another replica gets 202", st == 202, (st, body))
rows = samples("rw_ha")
check("HA: only the elected replica's samples, without __replica__", [(r[0], r[2]) for r in rows] ==
      [('{"cluster": "c1", "__name__": "rw_ha"}', 1.0)], rows)
sql("DELETE FROM mimir.limits WHERE name = 'accept_ha_samples'")

# multi-tenancy
reload_conf("mimir.multitenancy_enabled", "on")
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 1.0)], [])])
check("multitenancy on: missing X-Scope-OrgID is 401", st == 401 and "no org id" in body, (st, body))
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 1.0)], [])], headers={"X-Scope-OrgID": "bad/tenant"})
check("invalid tenant: 400", st == 400 and "unsupported character" in body, (st, body))
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 2.0)], [])], headers={"X-Scope-OrgID": "team-x"})
check("tenant from X-Scope-OrgID", st == 200 and [r[2] for r in samples("rw_t", "team-x")] == [2.0]
      and samples("rw_t") == [], (st, body))
reload_conf("mimir.multitenancy_enabled", "off")

# rate limit
sql("SELECT mimir.set_limit('ingestion_rate', '10', 'anonymous')")
sql("SELECT mimir.set_limit('ingestion_burst_size', '10', 'anonymous')")
time.sleep(11)
st, body, hdr = push([([("__name__", "rw_rate")], [(NOW + i, float(i)) for i in range(50)], [])])
check("rate limit: 429 with Retry-After", st == 429 and "err-mimir-tenant-max-ingestion-rate" in body and "Retry-After" in hdr, (st, body, hdr))
sql("DELETE FROM mimir.limits")

# oversized body
reload_conf("mimir.max_recv_msg_size", "2048")
st, body, _ = push([([("__name__", "rw_big"), ("a", "x" * 1000)], [(NOW + i, 1.0) for i in range(300)], [])])
check("oversized body: 400 with Mimir's message", st == 400 and "err-mimir-distributor-max-write-message-size" in body, (st, body))
reload_conf("mimir.max_recv_msg_size", "'100MB'")

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
