#!/usr/bin/python3
"""HTTP tests of the remote-write endpoint against the suite's cluster: every
status code (200, 202, 400, 401, 404, 405, 415, 429, 500; 503 is in
lifecycle.py), Mimir's
messages, partial acceptance, read-after-write through SQL, remote write 2.0,
tenants, limits, HA dedup, metadata, exemplars, /ready and /metrics.
Prints "N passed, N failed"."""
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from rwproto import (field_bytes, snappy, snappy_runs, timeseries_with_histogram,  # noqa: E402
                     write_request, write_request_v2, write_request_v2_meta)

HTTP = "http://127.0.0.1:%s" % os.environ["MIMIR_HTTP_PORT"]
conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres",
                        dbname=os.environ.get("PGDATABASE", "postgres"))
conn.autocommit = True
NOW = int(time.time() * 1000)
V2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def sql(q, *args):
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


def post(path, body, ctype="application/x-protobuf", headers=None, method="POST"):
    h = {"Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0"}
    if ctype is not None:
        h["Content-Type"] = ctype
    h.update(headers or {})
    req = urllib.request.Request(HTTP + path, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def push(series, meta=(), **kw):
    return post("/api/v1/push", snappy(write_request(series, meta)), **kw)


def push_v2(symbols, series, **kw):
    return post("/api/v1/push", snappy(write_request_v2(symbols, series)), ctype=V2, **kw)


def samples(sel, tenant="anonymous"):
    return sql("SELECT labels::text, (extract(epoch FROM t) * 1000)::bigint, value FROM mimir.samples(%s, "
               "to_timestamp(0), now() + interval '1 hour', %s)", sel, tenant)


def values(sel, tenant="anonymous"):
    return [r[2] for r in samples(sel, tenant)]


def metrics():
    return post("/metrics", None, method="GET")[1]


def metric_value(text, line_prefix):
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return 0.0


def wait_for(fn, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.2)
    return fn()


def set_conf(setting, value, probe):
    sql("ALTER SYSTEM SET %s = %s" % (setting, value))
    sql("SELECT pg_reload_conf()")
    return wait_for(probe)


def ready():
    try:
        with urllib.request.urlopen(HTTP + "/ready", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


wait_for(ready, 30)
st, body, _ = post("/ready", None, method="GET")
check("GET /ready: 200 once the extension exists", st == 200, (st, body))

# ---- success, read-after-write ----
st, body, hdr = push([([("__name__", "rw_up"), ("job", "a")], [(NOW - 2000, 1.0), (NOW - 1000, 2.0)], [])])
check("push: 200 with an empty body", st == 200 and body == "", (st, body))
check("read-after-write: the acked samples are visible to mimir.samples at once",
      [r[1:] for r in samples("rw_up")] == [(NOW - 2000, 1.0), (NOW - 1000, 2.0)], samples("rw_up"))
check("1.0 answers carry no 2.0 headers", "X-Prometheus-Remote-Write-Samples-Written" not in hdr, hdr)
st, body, _ = post("/api/v1/write", snappy(write_request([([("__name__", "rw_up"), ("job", "b")], [(NOW, 5.0)], [])])))
check("Prometheus' path /api/v1/write", st == 200 and values('rw_up{job="b"}') == [5.0], (st, body))
st, body, _ = post("/prometheus/api/v1/push", snappy(write_request([([("__name__", "rw_up"), ("job", "c")], [(NOW, 6.0)], [])])))
check("also under Mimir's /prometheus prefix", st == 200 and values('rw_up{job="c"}') == [6.0], (st, body))
st, body, _ = push([])
check("an empty request: 200", st == 200, (st, body))
st, body, _ = push([([("__name__", "rw_order"), ("zz", "1"), ("aa", "2"), ("empty", "")], [(NOW, 1.0)], [])])
check("labels are sorted and empty values dropped", st == 200 and
      samples("rw_order")[0][0] == '{"aa": "2", "zz": "1", "__name__": "rw_order"}', samples("rw_order"))

stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
st, body, _ = push([([("__name__", "rw_stale")], [(NOW - 5000, 1.0), (NOW - 4000, stale)], [])])
r = sql("SELECT float8send(value) = float8send(mimir.stale_marker()) FROM mimir.samples('rw_stale', to_timestamp(0), now()) "
        "ORDER BY t DESC LIMIT 1")
check("the staleness marker is stored bit-exact", st == 200 and r == [(True,)], (st, body, r))

# ---- malformed input ----
st, body, _ = post("/api/v1/push", b"\x05\xff\xff\xff")
check("bad snappy: 400", st == 400 and "snappy" in body, (st, body))
st, body, _ = post("/api/v1/push", b"\xff\xff\xff\xff\x0fgarbage")
check("a snappy header claiming a huge body: 400 before decompressing", st == 400 and "(uncompressed)" in body, (st, body))
st, body, _ = post("/api/v1/push", snappy(b"\x0a\x05\x0a\x03"))
check("truncated protobuf: 400 naming the problem", st == 400 and "malformed" in body, (st, body))
st, body, _ = post("/api/v1/push", snappy(b"\x0b\x00"))
check("invalid wire type: 400", st == 400, (st, body))
good = snappy(write_request([([("__name__", "x")], [(NOW, 1)], [])]))
st, body, _ = post("/api/v1/push", good, ctype="application/x-protobuf;proto=foo.Bar")
check("unknown proto=: 415", st == 415 and "foo.Bar" in body, (st, body))
st, body, _ = post("/api/v1/push", good, ctype="application/x-protobuf;garbage")
check("malformed Content-Type parameter: 400", st == 400, (st, body))
st, body, _ = post("/api/v1/push", good, ctype="application/x-protobuf;proto=prometheus.WriteRequest")
check("proto=prometheus.WriteRequest is 1.0", st == 200, (st, body))
st, body, _ = post("/api/v1/push", good, ctype=None)
check("no Content-Type is 1.0 (as Mimir)", st == 200, (st, body))
st, body, hdr = post("/api/v1/push", None, method="GET")
check("GET on push: 405 with Allow", st == 405 and hdr.get("Allow") == "POST", (st, body, hdr))
st, body, _ = post("/nope", None, method="GET")
check("unknown path: 404", st == 404, (st, body))

# ---- validation: valid series are stored, the answer is 400 naming the first problem ----
st, body, _ = push([([("__name__", "rw_ok")], [(NOW, 1.0)], []),
                    ([("__name__", "bad-name")], [(NOW, 1.0), (NOW + 1, 1.0)], []),
                    ([("job", "x")], [(NOW, 1.0)], [])])
check("invalid metric name: 400 with Mimir's message",
      st == 400 and body.startswith("received a series with invalid metric name: 'bad-name' (err-mimir-metric-name-invalid)\n"),
      (st, body))
check("...the message gives the counts", "1 samples stored, 3 rejected, 2 series rejected" in body, body)
check("...and the valid series of the request is stored", values("rw_ok") == [1.0])
st, body, _ = push([([("job", "x")], [(NOW, 1.0)], [])])
check("missing metric name: 400", st == 400 and "received series has no metric name (err-mimir-missing-metric-name)" in body,
      (st, body))
st, body, _ = push([([("__name__", "rw_l")] + [("l%02d" % i, "v") for i in range(30)], [(NOW, 1.0)], [])])
check("too many labels: 400 with the limit's hint", st == 400 and "(actual: 31, limit: 30)" in body and
      "err-mimir-max-label-names-per-series" in body and "-validation.max-label-names-per-series" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a-b", "x")], [(NOW, 1.0)], [])])
check("invalid label name: 400", st == 400 and "err-mimir-label-invalid" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", "x" * 3000)], [(NOW, 1.0)], [])])
check("label value too long: 400", st == 400 and "err-mimir-label-value-too-long" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", b"\xff\xfe")], [(NOW, 1.0)], [])])
check("non-UTF-8 label value: 400, with a valid UTF-8 body",
      st == 400 and "err-mimir-label-value-invalid" in body and "\ufffd" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", b"x\x00y")], [(NOW, 1.0)], [])])
check("NUL in a label value: 400", st == 400 and "err-mimir-label-value-invalid" in body, (st, body))
st, body, _ = push([([("__name__", "rw_l"), ("a", "1"), ("a", "2")], [(NOW, 1.0)], [])])
check("duplicate label names: 400", st == 400 and "err-mimir-duplicate-label-names" in body, (st, body))
st, body, _ = push([([("__name__", "rw_future")], [(NOW + 3600 * 1000, 1.0)], [])])
check("sample too far in the future: 400", st == 400 and "err-mimir-too-far-in-future" in body and
      "-validation.create-grace-period" in body, (st, body))
check("...and nothing of that series is stored", samples("rw_future") == [])

# ---- the ingester's ordering rules ----
push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])])
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 5000, 1.0)], [])])
ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((NOW - 5000) // 1000))
check("out-of-order sample: 400 with Mimir's message",
      st == 400 and body.startswith("the sample has been rejected because another sample with a more recent timestamp has "
                                    "already been ingested and out-of-order samples are not allowed "
                                    "(err-mimir-sample-out-of-order). The affected sample has timestamp " + ts) and
      'is from series {__name__="rw_ooo"}' in body, (st, body))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])])
check("identical duplicate: 200", st == 200, (st, body))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 1000, 7.0)], [])])
check("same timestamp, new value: 400", st == 400 and "err-mimir-sample-duplicate-timestamp" in body, (st, body))
check("...and nothing changed", values("rw_ooo") == [1.0])
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 900, 2.0), (NOW - 3000, 3.0), (NOW - 800, 4.0)], [])])
check("partial: in-order samples of a series stored around an out-of-order one",
      st == 400 and values("rw_ooo") == [1.0, 2.0, 4.0], (st, body, values("rw_ooo")))
st, body, _ = push([([("__name__", "rw_twice")], [(NOW - 100, 1.0)], []), ([("__name__", "rw_twice")], [(NOW - 50, 2.0)], [])])
check("a series twice in one request", st == 200 and values("rw_twice") == [1.0, 2.0], (st, body))

sql("SELECT mimir.set_limit('out_of_order_time_window', '10m', 'ooo-tenant')")
reload_conf = set_conf("mimir.multitenancy_enabled", "on",
                       lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 401)
check("multitenancy on: missing X-Scope-OrgID is 401 'no org id'",
      reload_conf and push([([("__name__", "rw_t")], [(NOW, 1.0)], [])])[1] == "no org id\n")
OOO = {"X-Scope-OrgID": "ooo-tenant"}
push([([("__name__", "rw_ooo")], [(NOW - 1000, 1.0)], [])], headers=OOO)
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 60000, 5.0)], [])], headers=OOO)
check("out-of-order window: an older sample within it is accepted", st == 200 and
      values("rw_ooo", "ooo-tenant") == [5.0, 1.0], (st, body, samples("rw_ooo", "ooo-tenant")))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 60000, 6.0)], [])], headers=OOO)
check("...and a different value at its timestamp is a duplicate", st == 400 and "sample-duplicate-timestamp" in body, (st, body))
st, body, _ = push([([("__name__", "rw_ooo")], [(NOW - 3600000, 5.0)], [])], headers=OOO)
check("beyond the window: too old", st == 400 and "err-mimir-sample-timestamp-too-old" in body and
      "beyond the out-of-order time window of 10m" in body, (st, body))

# ---- tenants ----
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 1.0)], [])], headers={"X-Scope-OrgID": "bad/tenant"})
check("invalid tenant: 400", st == 400 and body == "tenant ID 'bad/tenant' contains unsupported character '/'\n", (st, body))
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 1.0)], [])], headers={"X-Scope-OrgID": "a|b"})
check("several tenants: 400", st == 400 and "multiple org IDs present" in body, (st, body))
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 2.0)], [])], headers={"X-Scope-OrgID": "team-x"})
check("tenant from X-Scope-OrgID, isolated from the others", st == 200 and values("rw_t", "team-x") == [2.0]
      and samples("rw_t") == [], (st, body))
set_conf("mimir.multitenancy_enabled", "off", lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 200)
st, body, _ = push([([("__name__", "rw_t")], [(NOW, 3.0)], [])], headers={"X-Scope-OrgID": "team-x"})
check("multitenancy off: everything goes to 'anonymous'", st == 200 and values("rw_t") == [3.0], (st, body))

# ---- SQL writes and remote writes agree on the latest sample ----
sql("SELECT mimir.write('rw_mixed', to_timestamp(%s / 1000.0), 1)", NOW - 1000)
st, body, _ = push([([("__name__", "rw_mixed")], [(NOW - 2000, 3.0)], [])])
check("a remote write older than a committed SQL write is out of order", st == 400 and "out-of-order" in body, (st, body))

# ---- metadata and exemplars ----
st, body, _ = push([([("__name__", "rw_ex_total")], [(NOW, 1.0)], [([("trace_id", "abc")], 1.0, NOW)])],
                   meta=[(1, "rw_ex_total", "a counter", "seconds")])
check("metadata stored", st == 200 and sql("SELECT type, help, unit FROM mimir.metadata WHERE metric = 'rw_ex_total'") ==
      [("counter", "a counter", "seconds")], (st, body))
check("exemplars stored with their series", sql(
    "SELECT e.labels::text, e.value, e.t FROM mimir.exemplars e JOIN mimir.all_series() s ON s.id = e.series_id "
    "WHERE s.labels @> ARRAY(SELECT id FROM mimir.label_pairs WHERE name = '__name__' AND value = 'rw_ex_total')") ==
    [('{"trace_id": "abc"}', 1.0, NOW)])
st, body, _ = push([([("__name__", "rw_ex2")], [(NOW, 1.0)], [([], 1.0, NOW)])])
check("an exemplar without labels: 400", st == 400 and "err-mimir-exemplar-labels-missing" in body, (st, body))
st, body, _ = push([([("__name__", "rw_no_such_series")], [], [([("trace_id", "x")], 1.0, NOW)])])
check("an exemplar of a series that does not exist: 400", st == 400 and "err-mimir-exemplar-series-missing" in body, (st, body))
st, body, _ = push([], meta=[(1, "", "help", "")])
check("metadata without a metric name: 400", st == 400 and "received a metric metadata with no metric name" in body, (st, body))

# ---- remote write 2.0 ----
st, body, hdr = push_v2(["", "__name__", "rw_v2", "job", "x"], [([1, 2, 3, 4], [(NOW, 3.0), (NOW + 1, 4.0)])],
                        headers={"X-Prometheus-Remote-Write-Version": "2.0.0"})
check("remote write 2.0: 200 with the written-samples headers", st == 200 and
      hdr.get("X-Prometheus-Remote-Write-Samples-Written") == "2" and
      hdr.get("X-Prometheus-Remote-Write-Histograms-Written") == "0" and
      hdr.get("X-Prometheus-Remote-Write-Exemplars-Written") == "0" and values("rw_v2") == [3.0, 4.0], (st, body, hdr))
st, body, hdr = post("/api/v1/push", snappy(write_request_v2(["", "__name__"], [([1, 9], [(NOW, 1.0)])])), ctype=V2)
check("2.0 bad symbol reference: 400, headers say 0 written", st == 400 and "symbol reference 9" in body and
      hdr.get("X-Prometheus-Remote-Write-Samples-Written") == "0", (st, body, hdr))
st, body, hdr = post("/api/v1/push", snappy(write_request_v2(["", "__name__", "rw_v2b"], [([1, 2, 1], [(NOW, 1.0)])])), ctype=V2)
check("2.0 odd number of label references: 400", st == 400, (st, body))
st, body, hdr = post("/api/v1/push", snappy(write_request_v2_meta(
    ["", "__name__", "rw_v2_gauge", "a gauge", "bytes"], [([1, 2], [(NOW, 1.0)], (2, 3, 4))])), ctype=V2)
check("2.0 metadata per series is stored", st == 200 and sql(
    "SELECT type, help, unit FROM mimir.metadata WHERE metric = 'rw_v2_gauge'") == [("gauge", "a gauge", "bytes")], (st, body))
st, body, hdr = post("/api/v1/push", snappy(write_request_v2(["", "__name__", "rw_v2_bad-name"], [([1, 2], [(NOW, 1.0)])])), ctype=V2)
check("2.0 validation error: 400 with headers", st == 400 and "metric-name-invalid" in body and
      hdr.get("X-Prometheus-Remote-Write-Samples-Written") == "0", (st, body, hdr))

# ---- native histograms are counted as discarded ----
before = metric_value(metrics(), 'cortex_discarded_samples_total{reason="native_histograms_disabled",user="anonymous"}')
body = field_bytes(1, timeseries_with_histogram([("__name__", "rw_hist")], NOW))
st, b, _ = post("/api/v1/push", snappy(body))
after = metric_value(metrics(), 'cortex_discarded_samples_total{reason="native_histograms_disabled",user="anonymous"}')
check("native histograms: 200, ignored, counted as discarded", st == 200 and after == before + 1 and samples("rw_hist") == [],
      (st, b, before, after))

# ---- /metrics ----
m = metrics()
check("/metrics: received samples by tenant", metric_value(m, 'cortex_distributor_received_samples_total{user="anonymous"}') > 0, m[:500])
check("/metrics: discarded samples by reason", metric_value(
    m, 'cortex_discarded_samples_total{reason="metric_name_invalid",user="anonymous"}') >= 2, m[:3000])
check("/metrics: ingester rejections by reason", metric_value(
    m, 'cortex_discarded_samples_total{reason="sample_out_of_order",user="anonymous"}') >= 1)
check("/metrics: request duration histogram", 'cortex_request_duration_seconds_bucket{method="POST",route="api_v1_push",'
      'status_code="200",ws="false",le="+Inf"}' in m)
check("/metrics: requests and ingested samples", metric_value(m, 'cortex_distributor_requests_in_total{user="anonymous"}') > 10 and
      metric_value(m, 'cortex_ingester_ingested_samples_total{user="anonymous"}') > 10)

# ---- HA dedup ----
sql("SELECT mimir.set_limit('accept_ha_samples', 'true', 'ha-tenant')")
sql("SELECT mimir.set_limit('ha_failover_timeout', '3s', 'ha-tenant')")
sql("SELECT mimir.set_limit('ha_max_clusters', '1', 'ha-tenant')")
set_conf("mimir.multitenancy_enabled", "on", lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 401)
HA = {"X-Scope-OrgID": "ha-tenant"}
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "a"), ("cluster", "c1")], [(NOW, 1.0)], [])], headers=HA)
check("HA: the first replica is elected", st == 200, (st, body))
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "b"), ("cluster", "c1")], [(NOW + 1, 2.0)], [])], headers=HA)
check("HA: another replica gets 202 with Mimir's message",
      st == 202 and body == "replicas did not match, rejecting sample: replica=b, elected=a\n", (st, body))
rows = samples("rw_ha", "ha-tenant")
check("HA: only the elected replica's samples, without __replica__",
      [(r[0], r[2]) for r in rows] == [('{"cluster": "c1", "__name__": "rw_ha"}', 1.0)], rows)
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "a"), ("cluster", "c2")], [(NOW, 1.0)], [])], headers=HA)
check("HA: a cluster beyond ha_max_clusters is 400", st == 400 and "err-mimir-tenant-too-many-ha-clusters" in body, (st, body))
st, body, _ = push([([("__name__", "rw_ha_plain")], [(NOW, 1.0)], [])], headers=HA)
check("HA: series without the labels are accepted", st == 200, (st, body))
time.sleep(3.5)
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "b"), ("cluster", "c1")], [(NOW + 2, 3.0)], [])], headers=HA)
check("HA: failover to another replica after the timeout", st == 200 and values("rw_ha", "ha-tenant") == [1.0, 3.0], (st, body))
st, body, _ = push([([("__name__", "rw_ha"), ("__replica__", "a"), ("cluster", "c1")], [(NOW + 3, 4.0)], [])], headers=HA)
check("HA: ...and the old replica is now deduplicated", st == 202 and "elected=b" in body, (st, body))

# ---- limits ----
sql("SELECT mimir.set_limit('ingestion_rate', '10', 'rate-tenant')")
sql("SELECT mimir.set_limit('ingestion_burst_size', '20', 'rate-tenant')")
RT = {"X-Scope-OrgID": "rate-tenant"}
st, body, hdr = push([([("__name__", "rw_rate")], [(NOW + i, float(i)) for i in range(15)], [])], headers=RT)
check("rate limit: within the burst, 200", st == 200, (st, body))
st, body, hdr = push([([("__name__", "rw_rate")], [(NOW + 100 + i, float(i)) for i in range(15)], [])], headers=RT)
check("rate limit: 429 with Retry-After and Mimir's message", st == 429 and "err-mimir-tenant-max-ingestion-rate" in body and
      "set to 10 items/s with a maximum allowed burst of 20" in body and 6 <= int(hdr.get("Retry-After", "0")) <= 9, (st, body, hdr))
check("...and nothing of it is stored", len(values("rw_rate", "rate-tenant")) == 15)
st, body, hdr = push([([("__name__", "rw_rate")], [(NOW + 200 + i, float(i)) for i in range(25)], [])],
                     headers=dict(RT, **{"Retry-Attempt": "3"}))
check("rate limit: a request larger than the burst, Retry-After grows with Retry-Attempt",
      st == 429 and "burst size limit, set to 20, with 25 items" in body and 12 <= int(hdr.get("Retry-After", "0")) <= 36,
      (st, body, hdr))
sql("SELECT mimir.set_limit('max_global_series_per_user', '2', 'series-tenant')")
ST = {"X-Scope-OrgID": "series-tenant"}
st, body, _ = push([([("__name__", "rw_s%d" % i)], [(NOW, 1.0)], []) for i in range(3)], headers=ST)
check("series limit per tenant: 400, the first series stored", st == 400 and "per-user series limit of 2 exceeded" in body and
      "err-mimir-max-series-per-user" in body and len(samples('{__name__=~"rw_s.*"}', "series-tenant")) == 2, (st, body))
sql("SELECT mimir.set_limit('max_global_series_per_metric', '1', 'metric-tenant')")
MT = {"X-Scope-OrgID": "metric-tenant"}
st, body, _ = push([([("__name__", "rw_m"), ("i", str(i))], [(NOW, 1.0)], []) for i in range(2)], headers=MT)
check("series limit per metric: 400", st == 400 and "per-metric series limit of 1 exceeded" in body and
      'This is for series {__name__="rw_m", i="1"}' in body and len(samples("rw_m", "metric-tenant")) == 1, (st, body))
sql("SELECT mimir.set_limit('max_label_names_per_series', '2', 'lbl-tenant')")
st, body, _ = push([([("__name__", "rw_lbl"), ("a", "1"), ("b", "2")], [(NOW, 1.0)], [])], headers={"X-Scope-OrgID": "lbl-tenant"})
check("label limits are per tenant", st == 400 and "limit: 2" in body, (st, body))
set_conf("mimir.multitenancy_enabled", "off", lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 200)

# ---- message size ----
big = snappy(write_request([([("__name__", "rw_big"), ("a", "x" * 10000)], [(NOW, 1.0)], [])]))
set_conf("mimir.max_recv_msg_size", "8192", lambda: "max-write-message-size" in post("/api/v1/push", big)[1])
st, body, _ = post("/api/v1/push", big)
check("oversized body (compressed): 400 with Mimir's message", st == 400 and
      "(compressed) is larger than the allowed limit of 8192 bytes (err-mimir-distributor-max-write-message-size)" in body, (st, body))
small = snappy_runs(write_request([([("__name__", "rw_big"), ("a", "%02d" % i + "x" * 1500)], [(NOW, 1.0)], [])
                                   for i in range(60)]))
st, body, _ = post("/api/v1/push", small)
check("oversized after decompression: 400 'uncompressed'", len(small) < 8192 and st == 400 and
      "(uncompressed) is larger than the allowed limit" in body, (len(small), st, body))
set_conf("mimir.max_recv_msg_size", "'100MB'", lambda: post("/api/v1/push", small)[0] == 200)
check("a body with runs decodes once the limit allows it", len(samples("rw_big")) == 60)

# ---- server-side failures are 5xx (retried), never 4xx ----
sql("ALTER TABLE mimir.head ADD CONSTRAINT test_fail CHECK (n < 0) NOT VALID")
st, body, hdr = push([([("__name__", "rw_fail")], [(NOW, 1.0)], [])])
check("a storage failure: 500 with Retry-After", st == 500 and "Retry-After" in hdr, (st, body, hdr))
sql("ALTER TABLE mimir.head DROP CONSTRAINT test_fail")
st, body, hdr = push([([("__name__", "rw_fail")], [(NOW, 1.0)], [])])
check("...the sender's retry succeeds", st == 200 and values("rw_fail") == [1.0], (st, body))

# ---- mimir.delete_tenant while the tenant is writing: nothing acked after it is lost ----
import threading  # noqa: E402
set_conf("mimir.multitenancy_enabled", "on",
         lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 401)
DT = {"X-Scope-OrgID": "del-tenant"}
sql("SELECT mimir.delete_tenant('del-tenant')")  # a clean slate when run again
acks = []
refused = []
stop = threading.Event()


def pusher():
    # 1 ms apart: a fast machine makes thousands of pushes here, and whole seconds apart they
    # would run past the creation grace period into 'too far in the future'.
    t = NOW - 3600 * 1000
    while not stop.is_set():
        t += 1
        st, body, _ = push([([("__name__", "rw_del"), ("s", str(i))], [(t, float(i))], []) for i in range(20)],
                        headers=DT)
        acks.append((t, st, time.time()))
        if st != 200 and not refused:
            refused.append(body)


th = threading.Thread(target=pusher)
th.start()
time.sleep(1.5)
t0 = time.time()
sql("SELECT mimir.delete_tenant('del-tenant')")
t1 = time.time()
time.sleep(1.5)
stop.set()
th.join()
stored = {}
for lbl, ts, v in samples("rw_del", "del-tenant"):
    stored[ts] = stored.get(ts, 0) + 1
after = [t for t, st, at in acks if st == 200 and at > t1]
before = [t for t, st, at in acks if st == 200 and at < t0]
check("delete_tenant during pushes: every push acked after it is stored whole",
      len(after) > 0 and all(stored.get(t) == 20 for t in after) and all(st == 200 for _, st, _ in acks),
      (len(after), [t for t in after if stored.get(t) != 20][:5], [st for _, st, _ in acks if st != 200][:5], refused[:1]))
check("...and nothing acked before it survived", len(before) > 0 and not any(t in stored for t in before),
      (len(before), [t for t in before if t in stored][:5]))
sql("SELECT mimir.delete_tenant('del-tenant')")
check("...its series index went with it",
      sql("SELECT count(*) FROM mimir.label_names(NULL, NULL, NULL, 'del-tenant')")[0][0] == 0)
st, body, _ = push([([("__name__", "rw_del"), ("s", "1")], [(NOW, 7.0)], [])], headers=DT)
check("...and the tenant writes again (the series map forgot its ids)", st == 200 and
      values("rw_del", "del-tenant") == [7.0], (st, body, samples("rw_del", "del-tenant")))

# ---- every deletion resets the series map: another tenant writing meanwhile is not disturbed ----
# (a reset frees the map's slots for reuse while writers may still hold them: a stale
# writer must neither read another series' id nor raise its latest timestamp)
BY = {"X-Scope-OrgID": "bystander"}
SCALE = 10 ** 7
sql("SELECT mimir.delete_tenant('bystander')")  # a clean slate when run again
push([([("__name__", "rw_gone")], [(NOW, 1.0)], [])], headers={"X-Scope-OrgID": "reset-tenant"})
by_acks = []
by_refused = []
stop = threading.Event()


def bystander():
    t0 = t = NOW - 1800 * 1000
    while not stop.is_set():
        t += 1
        st, body, _ = push([([("__name__", "rw_by"), ("s", str(i))], [(t, float(i * SCALE + t - t0))], [])
                            for i in range(50)], headers=BY)
        by_acks.append((t, st))
        if st != 200 and not by_refused:
            by_refused.append(body)


th = threading.Thread(target=bystander)
th.start()
for _ in range(25):
    sql("SELECT mimir.delete_series('rw_gone', now() - interval '1 day', now() + interval '1 day', 'reset-tenant')")
    time.sleep(0.05)
stop.set()
th.join()
by_stored = {}
misplaced = []
for lbl, ts, v in samples("rw_by", "bystander"):
    by_stored[ts] = by_stored.get(ts, 0) + 1
    if int(v) // SCALE != int(json.loads(lbl)["s"]):
        misplaced.append((lbl, ts, v))
check("series-map resets during another tenant's pushes: every push 200",
      len(by_acks) > 25 and all(st == 200 for _, st in by_acks),
      (len(by_acks), [st for _, st in by_acks if st != 200][:5], by_refused[:1]))
check("...every acked push stored whole", all(by_stored.get(t) == 50 for t, st in by_acks if st == 200),
      [t for t, st in by_acks if st == 200 and by_stored.get(t) != 50][:5])
check("...each sample on its own series", not misplaced, misplaced[:5])

set_conf("mimir.multitenancy_enabled", "off", lambda: push([([("__name__", "probe")], [(NOW, 1.0)], [])])[0] == 200)

finish()
