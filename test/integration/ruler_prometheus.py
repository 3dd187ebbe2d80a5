#!/usr/bin/python3
"""mimir's ruler against Debian's Prometheus on the same data and the same rule
file: Prometheus scrapes a real target on loopback, evaluates the rules itself
and remote-writes what it scrapes to mimir, whose pg_cron jobs evaluate the
same rule file (loaded with the file path as namespace, so both evaluate at the
same timestamps). The recorded series and the ALERTS series (alert states)
must agree sample for sample."""
import http.server
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import free_port  # noqa: E402


def fetch(url, method="GET", body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return 0, str(e)


MIMIR = os.environ.get("MIMIR_URL", "http://127.0.0.1:%s" % os.environ.get("MIMIR_HTTP_PORT", "8080"))
PROM_BIN = shutil.which("prometheus")
if PROM_BIN is None:
    print("prometheus is not installed (test/deps.sh installs it)")
    print("0 passed, 1 failed")
    sys.exit(1)
# mimir must accept remote write (the distributor's push endpoint)
st, _ = fetch(MIMIR + "/api/v1/push", method="POST", body=b"", headers={"Content-Type": "application/x-protobuf"})
if st in (0, 404):
    print("SKIPPED: %s/api/v1/push is not served (HTTP %s): the remote-write endpoint is not in this build" % (MIMIR, st))
    print("0 passed, 0 failed")
    sys.exit(0)

conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres",
                        dbname=os.environ.get("PGDATABASE", "postgres"))
conn.autocommit = True


def sql(q, *args):
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


# ---------------------------------------------------------------- the target
T0 = time.time()
requests_a = [0.0]


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t = time.time() - T0
        # svc a is down from 40s to 120s into the test (eight evaluations, so that the two systems'
        # ALERTS series share at least five samples whatever the phase); its request counter
        # grows at varying speed
        down = 40 <= t < 120
        requests_a[0] += 3 + (t % 7)
        body = ("# TYPE demo_up gauge\n"
                "demo_up{svc=\"a\"} %d\n"
                "demo_up{svc=\"b\"} 1\n"
                "# TYPE demo_requests_total counter\n"
                "demo_requests_total{svc=\"a\"} %g\n"
                "demo_requests_total{svc=\"b\"} %g\n" % (0 if down else 1, requests_a[0], int(t) * 2))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


target_port = free_port()
target = http.server.ThreadingHTTPServer(("127.0.0.1", target_port), Target)
threading.Thread(target=target.serve_forever, daemon=True).start()

workdir = tempfile.mkdtemp(prefix="mimir_prom_")
rule_path = os.path.join(workdir, "rules.yml")
RULES = """groups:
  - name: it
    interval: 10s
    rules:
      - record: svc:demo_up:sum
        expr: sum by (svc) (demo_up)
      - record: svc:demo_requests:rate30s
        expr: rate(demo_requests_total[30s])
      - record: demo:total
        expr: sum(demo_up) + count(demo_requests_total)
        labels:
          source: rules
      - alert: DemoDown
        expr: demo_up == 0
        for: 20s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.svc }} is down"
"""
with open(rule_path, "w") as f:
    f.write(RULES)
prom_port = free_port()
PROM = "http://127.0.0.1:%d" % prom_port
with open(os.path.join(workdir, "prometheus.yml"), "w") as f:
    f.write("""global:
  scrape_interval: 5s
  evaluation_interval: 10s
rule_files:
  - %s
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:%d']
remote_write:
  - url: %s/api/v1/push
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    write_relabel_configs:
      # Prometheus' own rule results stay in Prometheus: mimir computes its own
      - source_labels: [__name__]
        regex: 'svc:.*|demo:.*|ALERTS.*'
        action: drop
""" % (rule_path, target_port, MIMIR))

prom = None
try:
    # the same rule file in mimir, namespace = the file, as Prometheus groups it
    sql("SELECT mimir.delete_series('{job=\"demo\"}', '-infinity', 'infinity', 'anonymous')")
    n = sql("SELECT mimir.load_rules(%s, %s, 'anonymous')", rule_path, RULES)[0][0]
    check("rule file loaded into mimir", n == 1, n)
    # evaluate once now: from here on the minute jobs catch up every slot
    gid = sql("SELECT g.id FROM mimir.rule_groups g JOIN mimir.tenants t ON t.id = g.tenant_id "
              "WHERE t.name = 'anonymous' AND g.namespace = %s", rule_path)[0][0]
    sql("CALL mimir.run_rule_group(%s)", gid)
    prom = subprocess.Popen([PROM_BIN, "--config.file=" + os.path.join(workdir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port],
                            stdout=open(os.path.join(workdir, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
    ready = False
    for _ in range(60):
        if fetch(PROM + "/-/ready", timeout=2)[0] == 200:
            ready = True
            break
        time.sleep(0.5)
    check("prometheus starts on a free port", ready)

    # 150s: the target goes down and up again; mimir's jobs run every minute
    time.sleep(150)
    st, body = fetch(MIMIR + "/prometheus/api/v1/rules")
    end = time.time()

    def prom_samples(expr):
        st, body = fetch(PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": expr + "[10m]", "time": "%.3f" % end}))
        res = {}
        if st != 200:
            return res
        for s in json.loads(body)["data"]["result"]:
            key = json.dumps(s["metric"], sort_keys=True)
            res[key] = {int(round(float(t) * 1000)): float(v) for t, v in s["values"]}
        return res

    def mimir_samples(sel):
        rows = sql("SELECT labels::text, (extract(epoch FROM t) * 1000)::bigint, value, "
                   "float8send(value) = float8send(mimir.stale_marker()) FROM mimir.samples(%s, "
                   "to_timestamp(%s), to_timestamp(%s), 'anonymous')", sel, T0 - 60, end + 1)
        res = {}
        for lbl, t, v, stale in rows:
            if stale:
                continue
            key = json.dumps(json.loads(lbl), sort_keys=True)
            res.setdefault(key, {})[t] = v
        return res

    def compare(name, expr, not_before=0):
        p = prom_samples(expr)
        m = mimir_samples(expr)
        for d in (p, m):
            for key in d:
                d[key] = {t: v for t, v in d[key].items() if t >= not_before}
        check(name + ": same series", sorted(p) == sorted(m), (sorted(p), sorted(m)))
        common = 0
        mismatches = []
        for key in p:
            if key not in m:
                continue
            pt, mt = p[key], m[key]
            lo, hi = max(min(pt), min(mt)), min(max(pt), max(mt))
            ps = {t: v for t, v in pt.items() if lo <= t <= hi}
            ms = {t: v for t, v in mt.items() if lo <= t <= hi}
            if set(ps) != set(ms):
                mismatches.append((key, "timestamps", sorted(set(ps) ^ set(ms))[:5]))
            for t in set(ps) & set(ms):
                common += 1
                a, b = ps[t], ms[t]
                if not (a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))):
                    mismatches.append((key, t, a, b))
        spans = {k: ((min(p[k]), max(p[k])) if k in p else None, (min(m[k]), max(m[k])) if k in m else None)
                 for k in set(p) | set(m)}
        check(name + ": evaluated at the same timestamps with the same values (%d samples)" % common,
              common >= 5 and len(mismatches) <= 1, (mismatches[:10], "spans (prometheus, mimir):", spans))

    compare("recording rule sum by", "svc:demo_up:sum")
    # While a rate's range reaches back before the counter's first sample, Prometheus 2.42
    # extrapolates towards the counter's zero point before applying the extrapolation
    # threshold and current Prometheus (whose semantics mimir's evaluator follows) after
    # it; compare once the range is filled.
    first = sql("SELECT (extract(epoch FROM min(t)) * 1000)::bigint FROM mimir.samples("
                "'demo_requests_total', to_timestamp(%s), now(), 'anonymous')", T0 - 60)[0][0] or 0
    compare("recording rule rate", "svc:demo_requests:rate30s", first + 30000)
    compare("recording rule with labels", "demo:total")
    compare("ALERTS (pending, then firing)", "ALERTS")
    compare("ALERTS_FOR_STATE", "ALERTS_FOR_STATE")
    states = sql("SELECT DISTINCT labels->>'alertstate' FROM mimir.samples('ALERTS', to_timestamp(%s), now(), "
                 "'anonymous')", T0)
    check("mimir's alert went through pending and firing", sorted(s[0] for s in states) == ["firing", "pending"], states)
    check("mimir's ruler API lists the group", st == 200 and '"file":"%s"' % rule_path in body, (st, body[:300]))
    groups = sql("SELECT health, evaluations, last_error FROM mimir.rule_groups('anonymous') WHERE namespace = %s",
                 rule_path)
    check("the group's job evaluated every slot without errors",
          groups and groups[0][0] == "ok" and groups[0][1] >= 10, groups)
finally:
    if prom is not None:
        prom.terminate()
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
    target.shutdown()
    try:
        sql("SELECT mimir.delete_rule_namespace(%s, 'anonymous')", rule_path)
    except Exception as e:  # noqa: BLE001
        print("cleanup:", e)
    shutil.rmtree(workdir, ignore_errors=True)

finish()
