#!/usr/bin/python3
"""HTTP tests of the query API: both path prefixes, GET and POST forms, the
exact request sequence Grafana's Prometheus data source sends, statuses and
error JSON, oversized bodies, tenant isolation under X-Scope-OrgID, remote
read, and concurrency (slow queries run at once on the query workers and
block neither a fast query nor a write; extra ones queue, then get 503)."""
import json
import os
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from rwproto import field_bytes, field_varint, snappy, write_request  # noqa: E402

HTTP = "http://127.0.0.1:%s" % os.environ["MIMIR_HTTP_PORT"]
conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres")
conn.autocommit = True
T0 = 1704067200  # 2024-01-01T00:00:00Z
SLOW = "count_over_time(vector(1)[400d:1s]) + count_over_time(vector(1)[400d:1s])"


def sql(q, *args):
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


def request(method, path, params=None, form=None, headers=None, body=None, timeout=60):
    url = HTTP + path
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    h = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form, doseq=True).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    req = urllib.request.Request(url, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def jrequest(method, path, **kw):
    st, body, hdrs = request(method, path, **kw)
    try:
        return st, json.loads(body), hdrs
    except ValueError:
        return st, body, hdrs


def reload_conf(setting, value):
    sql("ALTER SYSTEM SET %s = %s" % (setting, value))
    sql("SELECT pg_reload_conf()")
    time.sleep(1.5)


# wait for the HTTP workers
for _ in range(150):
    try:
        with urllib.request.urlopen(HTTP + "/ready", timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    time.sleep(0.2)

# data, in the default (anonymous) tenant and two others
sql("SELECT count(mimir.write(format('qh_up{job=\"%%s\",instance=\"%%s\"}', j, i), to_timestamp(%s + s), s))"
    " FROM unnest(ARRAY['api','db']) j, unnest(ARRAY['a:1','b:1']) i, generate_series(0, 600, 15) s", T0)
sql("SELECT mimir.write('qh_tenant{who=\"one\"}', to_timestamp(%s), 1, 'qh-one')", T0)
sql("SELECT mimir.write('qh_tenant{who=\"two\"}', to_timestamp(%s), 2, 'qh-two')", T0)

# --- both prefixes, GET and POST ---------------------------------------------------------
for prefix in ("/prometheus", ""):
    st, js, h = jrequest("GET", prefix + "/api/v1/query", params={"query": "qh_up{job=\"api\",instance=\"a:1\"}", "time": T0 + 60})
    check("GET %s/api/v1/query" % (prefix or "''"),
          st == 200 and h.get("Content-Type") == "application/json" and
          js["data"]["result"] == [{"metric": {"__name__": "qh_up", "instance": "a:1", "job": "api"}, "value": [T0 + 60, "60"]}], (st, js))
    st, js, _ = jrequest("POST", prefix + "/api/v1/query", form={"query": "sum(qh_up)", "time": T0 + 60})
    check("POST form %s/api/v1/query" % (prefix or "''"), st == 200 and js["data"]["result"][0]["value"] == [T0 + 60, "240"], (st, js))

# --- Grafana's Prometheus data source, in the order it calls ------------------------------
st, js, _ = jrequest("GET", "/prometheus/api/v1/status/buildinfo")
check("grafana: buildinfo (flavour detection)", st == 200 and js["status"] == "success" and
      js["data"]["application"] == "Grafana Mimir" and "version" in js["data"] and "features" in js["data"], (st, js))
now = int(time.time())
st, js, _ = jrequest("POST", "/prometheus/api/v1/query", form={"query": "1+1", "time": now})
check("grafana: Save & test runs 1+1", st == 200 and js["data"]["resultType"] == "scalar" and js["data"]["result"][1] == "2", (st, js))
st, js, _ = jrequest("GET", "/prometheus/api/v1/labels", params={"start": T0, "end": T0 + 3600})
check("grafana: labels", st == 200 and js["data"] == ["__name__", "instance", "job"], (st, js))
st, js, _ = jrequest("GET", "/prometheus/api/v1/label/__name__/values", params={"start": T0, "end": T0 + 3600})
check("grafana: metric names", st == 200 and js["data"] == ["qh_up"], (st, js))
st, js, _ = jrequest("GET", "/prometheus/api/v1/label/instance/values",
                     params={"match[]": 'qh_up{job="db"}', "start": T0, "end": T0 + 3600})
check("grafana: label values with match[]", st == 200 and js["data"] == ["a:1", "b:1"], (st, js))
st, js, _ = jrequest("POST", "/prometheus/api/v1/series", form={"match[]": ['qh_up{instance="b:1"}'], "start": T0, "end": T0 + 3600})
check("grafana: series (POST)", st == 200 and len(js["data"]) == 2 and all(s["instance"] == "b:1" for s in js["data"]), (st, js))
st, js, _ = jrequest("GET", "/prometheus/api/v1/metadata")
check("grafana: metadata", st == 200 and js["status"] == "success" and isinstance(js["data"], dict), (st, js))
step = 60
start, end = (T0 + 7) // step * step, (T0 + 600 + 7) // step * step
st, js, _ = jrequest("POST", "/prometheus/api/v1/query_range",
                     form={"query": "sum by (job) (rate(qh_up[5m]))", "start": start, "end": end, "step": step})
ok = st == 200 and js["data"]["resultType"] == "matrix" and [s["metric"] for s in js["data"]["result"]] == [{"job": "api"}, {"job": "db"}]
ok = ok and all(p[0] % step == 0 for s in js["data"]["result"] for p in s["values"])
check("grafana: POSTed query_range with aligned start/end", ok, (st, js))
st, js, _ = jrequest("POST", "/prometheus/api/v1/query_exemplars", form={"query": "qh_up", "start": T0, "end": T0 + 600})
check("grafana: query_exemplars", st == 200 and js["data"] == [], (st, js))
st, js, _ = jrequest("GET", "/prometheus/api/v1/format_query", params={"query": "sum(rate(x[5m]))by(job)"})
check("format_query", st == 200 and js["data"] == "sum by (job) (rate(x[5m]))", (st, js))

# --- errors: statuses and Prometheus' JSON ---------------------------------------------
st, js, _ = jrequest("GET", "/prometheus/api/v1/nosuch")
check("unknown endpoint: 404 JSON", st == 404 and js["errorType"] == "not_found", (st, js))
st, js, h = jrequest("DELETE", "/api/v1/query_range")
check("wrong method: 405 JSON with Allow", st == 405 and js["status"] == "error" and h.get("Allow") == "GET, POST", (st, js, h))
st, js, _ = jrequest("GET", "/api/v1/query_range", params={"query": "qh_up", "start": "x"})
check("bad time: 400 bad_data", st == 400 and js["errorType"] == "bad_data" and 'invalid parameter \\"start\\"' in json.dumps(js), (st, js))
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "sum(qh_up"})
check("parse error: 400 with the position", st == 400 and js["error"].startswith('invalid parameter "query": 1:'), (st, js))
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": SLOW, "time": T0, "timeout": "0.05"})
check("timeout parameter: 503 timeout", st == 503 and js["errorType"] == "timeout", (st, js))
big = b"query=" + b"1" * (100 * 1024 * 1024 + 10)
st, js, _ = jrequest("POST", "/api/v1/query", body=big, headers={"Content-Type": "application/x-www-form-urlencoded"})
check("oversized body: 413 JSON", st == 413 and js["errorType"] == "too_large_entry", (st, str(js)[:200]))
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "1", "time": "1"})
check("...and the server still answers", st == 200, (st, js))

# --- remote read (SAMPLES) ----------------------------------------------------------------
def matcher(t, n, v):
    return field_varint(1, t) + field_bytes(2, n.encode()) + field_bytes(3, v.encode())


def snappy_decode(b):
    # literal and copy elements of the snappy block format
    n, shift, i = 0, 0, 0
    while True:
        c = b[i]; i += 1
        n |= (c & 0x7F) << shift; shift += 7
        if c < 0x80:
            break
    out = bytearray()
    while i < len(b):
        tag = b[i]; i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(b[i:i + nb], "little"); i += nb
            ln += 1
            out += b[i:i + ln]; i += ln
        else:
            if kind == 1:
                ln = ((tag >> 2) & 7) + 4; off = ((tag >> 5) << 8) | b[i]; i += 1
            elif kind == 2:
                ln = (tag >> 2) + 1; off = int.from_bytes(b[i:i + 2], "little"); i += 2
            else:
                ln = (tag >> 2) + 1; off = int.from_bytes(b[i:i + 4], "little"); i += 4
            for _ in range(ln):
                out.append(out[-off])
    assert len(out) == n
    return bytes(out)


def parse_fields(b):
    i, out = 0, []
    while i < len(b):
        key, shift = 0, 0
        while True:
            c = b[i]; i += 1
            key |= (c & 0x7F) << shift; shift += 7
            if c < 0x80:
                break
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                c = b[i]; i += 1
                v |= (c & 0x7F) << shift; shift += 7
                if c < 0x80:
                    break
            out.append((f, v))
        elif wt == 1:
            out.append((f, struct.unpack("<d", b[i:i + 8])[0])); i += 8
        elif wt == 2:
            ln, shift = 0, 0
            while True:
                c = b[i]; i += 1
                ln |= (c & 0x7F) << shift; shift += 7
                if c < 0x80:
                    break
            out.append((f, b[i:i + ln])); i += ln
    return out


query = field_varint(1, T0 * 1000) + field_varint(2, (T0 + 30) * 1000) + \
    field_bytes(3, matcher(0, "__name__", "qh_up")) + field_bytes(3, matcher(2, "instance", "a.*")) + \
    field_bytes(3, matcher(1, "job", "db"))
rr = field_bytes(1, query) + field_varint(2, 0)
st, body, h = request("POST", "/prometheus/api/v1/read", body=snappy(rr),
                      headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                               "X-Prometheus-Remote-Read-Version": "0.1.0"})
series = []
if st == 200:
    for f, qr in parse_fields(snappy_decode(body)):
        for f2, ts in parse_fields(qr):
            labels, samples = {}, []
            for f3, v in parse_fields(ts):
                if f3 == 1:
                    d = dict(parse_fields(v))
                    labels[d.get(1, b"").decode()] = d.get(2, b"").decode()
                else:
                    d = dict(parse_fields(v))
                    samples.append((d.get(2, 0), d.get(1, 0.0)))
            series.append((labels, samples))
check("remote read: samples of the matching series",
      st == 200 and h.get("Content-Type") == "application/x-protobuf" and
      series == [({"__name__": "qh_up", "instance": "a:1", "job": "api"},
                  [(T0 * 1000, 0.0), ((T0 + 15) * 1000, 15.0), ((T0 + 30) * 1000, 30.0)])], (st, series))
st, body, _ = request("POST", "/api/v1/read", body=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"})
check("remote read: bad body is 400", st == 400, (st, body))

# --- tenants -------------------------------------------------------------------------------
reload_conf("mimir.multitenancy_enabled", "on")
st, body, _ = request("GET", "/api/v1/query", params={"query": "qh_tenant", "time": T0})
check("multitenancy: no X-Scope-OrgID is 401 no org id", st == 401 and b"no org id" in body, (st, body))
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "qh_tenant", "time": T0}, headers={"X-Scope-OrgID": "qh-one"})
check("tenant qh-one sees only its series", st == 200 and [r["metric"]["who"] for r in js["data"]["result"]] == ["one"], (st, js))
st, js, _ = jrequest("GET", "/api/v1/series", params={"match[]": "qh_tenant"}, headers={"X-Scope-OrgID": "qh-two"})
check("tenant qh-two sees only its series", st == 200 and [s["who"] for s in js["data"]] == ["two"], (st, js))
st, js, _ = jrequest("GET", "/api/v1/label/__name__/values", headers={"X-Scope-OrgID": "qh-nobody"})
check("an unknown tenant sees nothing", st == 200 and js["data"] == [], (st, js))
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "1"}, headers={"X-Scope-OrgID": "bad/tenant"})
check("invalid tenant id: 400", st == 400 and "unsupported character" in js["error"], (st, js))
reload_conf("mimir.multitenancy_enabled", "off")
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "qh_tenant", "time": T0}, headers={"X-Scope-OrgID": "qh-one"})
check("multitenancy off: everything is the anonymous tenant's", st == 200 and js["data"]["result"] == [], (st, js))

# --- concurrency -----------------------------------------------------------------------------
t = time.time()
st, _, _ = request("GET", "/api/v1/query", params={"query": SLOW, "time": T0})
alone = time.time() - t
check("the slow query works alone (%.2f s)" % alone, st == 200, st)
results = {}


def slow(i):
    t0 = time.time()
    st, _, _ = request("GET", "/api/v1/query", params={"query": SLOW, "time": T0})
    results[i] = (st, time.time() - t0)


workers = int(sql("SELECT current_setting('mimir.query_workers')")[0][0])
threads = [threading.Thread(target=slow, args=(i,)) for i in range(3)]
for th in threads:
    th.start()
time.sleep(0.3)
t = time.time()
st, js, _ = jrequest("GET", "/api/v1/query", params={"query": "qh_up{job=\"db\",instance=\"a:1\"}", "time": T0 + 30})
fast = time.time() - t
check("a fast query is not blocked by running slow ones (%.3f s)" % fast, st == 200 and fast < max(0.5, alone / 2), (st, fast))
st, body, _ = request("POST", "/api/v1/push", body=snappy(write_request([([("__name__", "qh_written")], [(int(time.time() * 1000), 1.0)], [])])),
                      headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
write_time = time.time() - t - fast
if st == 404:
    print("not run: a write during slow queries (no /api/v1/push on this build)")
else:
    check("a write is not blocked by running slow queries (%.3f s)" % write_time, st == 200 and write_time < max(0.5, alone / 2), (st, body))
for th in threads:
    th.join()
check("%d slow queries ran at once on %d query workers" % (len(results), workers),
      all(r[0] == 200 for r in results.values()), results)

# more slow queries than workers: the extra ones wait, and past mimir.query_queue_timeout get 503
reload_conf("mimir.query_queue_timeout", "'100ms'")
results.clear()
threads = [threading.Thread(target=slow, args=(i,)) for i in range(workers + 3)]
for th in threads:
    th.start()
for th in threads:
    th.join()
codes = sorted(r[0] for r in results.values())
check("queries beyond mimir.query_workers get 503 after the queue timeout (%s)" % codes,
      codes.count(200) >= workers and codes.count(503) >= 1, results)
reload_conf("mimir.query_queue_timeout", "'30s'")
results.clear()
threads = [threading.Thread(target=slow, args=(i,)) for i in range(workers + 2)]
for th in threads:
    th.start()
for th in threads:
    th.join()
check("with a longer queue timeout they all wait their turn", all(r[0] == 200 for r in results.values()), results)
sql("ALTER SYSTEM RESET mimir.query_queue_timeout")
sql("ALTER SYSTEM RESET mimir.multitenancy_enabled")
sql("SELECT pg_reload_conf()")

finish()
