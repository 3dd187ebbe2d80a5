#!/usr/bin/python3
"""Real-Prometheus test: Debian's prometheus scrapes itself every second and
remote-writes to the endpoint (the seed's configuration: just a url), on a
private cluster so that its series do not mix with other tests'. Every
sample it wrote, timestamp and value, must be what its own HTTP API returns
for the same series, and its remote-write queue must report no failures.
Prints "N passed, N failed"."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import free_port  # noqa: E402
from pgtmp import Cluster  # noqa: E402


def prom_get(port, path, **params):
    url = "http://127.0.0.1:%d%s?%s" % (port, path, urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


PROM = shutil.which("prometheus")
if PROM is None:
    print("prometheus is not installed (Debian package 'prometheus'; test/deps.sh installs it)")
    print("0 passed, 1 failed")
    sys.exit(1)

cluster = Cluster("prometheus", ["mimir.ingest_workers = 2"])
cluster.start()
cluster.sql("CREATE EXTENSION mimir")
conn = cluster.connect()
mimir = cluster.url
for _ in range(100):
    try:
        with urllib.request.urlopen(mimir + "/ready", timeout=1) as r:
            if r.status == 200:
                break
    except Exception:
        time.sleep(0.2)
port = free_port()
tmp = tempfile.mkdtemp(prefix="prom-")
job = "prom_rw_%d" % port          # a job name no other test uses
with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
    f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: ['127.0.0.1:%d']
remote_write:
  - url: %s/api/v1/push
    queue_config:
      batch_send_deadline: 1s
    metadata_config:
      send_interval: 2s
""" % (job, port, mimir))
proc = subprocess.Popen([PROM, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                         "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                         "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
try:
    for _ in range(100):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=1) as r:
                if r.status == 200:
                    break
        except Exception:
            time.sleep(0.2)
    check("Prometheus is up", proc.poll() is None)
    time.sleep(15)
    t_end = time.time() - 4
    # what Prometheus stored: raw samples of its own series (stale markers are not returned)
    res = prom_get(port, "/api/v1/query", query='{job="%s"}[60s]' % job, time="%.3f" % t_end)
    series = res["data"]["result"]
    expected = {}
    for s in series:
        key = tuple(sorted(s["metric"].items()))
        expected[key] = [(int(round(float(t) * 1000)), v) for t, v in s["values"]]
    nsamples = sum(len(v) for v in expected.values())
    check("Prometheus scraped itself (%d series, %d samples)" % (len(expected), nsamples),
          len(expected) > 50 and nsamples > 500)

    def stored():
        with conn.cursor() as cur:
            cur.execute("SELECT labels::text, (extract(epoch FROM t) * 1000)::bigint, float8send(value) "
                        "FROM mimir.samples(%s, to_timestamp(0), to_timestamp(%s))",
                        ('{job="%s"}' % job, t_end))
            out = {}
            for labels, t, v in cur.fetchall():
                key = tuple(sorted(json.loads(labels).items()))
                out.setdefault(key, []).append((t, struct.unpack(">d", bytes(v))[0], bytes(v)))
            return out

    # remote write lags a little behind the scrapes: wait until everything up to t_end arrived
    deadline = time.time() + 60
    while True:
        got = stored()
        if sum(len(v) for v in got.values()) >= nsamples or time.time() > deadline:
            break
        time.sleep(1)

    missing, wrong, extra = [], [], []
    for key, samples in expected.items():
        have = {t: (v, raw) for t, v, raw in got.get(key, [])
                if raw != struct.pack(">Q", 0x7FF0000000000002)}
        for t, v in samples:
            if t not in have:
                missing.append((key, t))
            else:
                mv = have[t][0]
                pv = float(v)
                if not (mv == pv or (mv != mv and pv != pv)):
                    wrong.append((dict(key).get("__name__"), t, v, mv))
        for t in have:
            if t not in dict(samples):
                extra.append((dict(key).get("__name__"), t))
    check("every sample Prometheus stored up to t_end arrived through remote write", not missing,
          "%d missing, e.g. %s" % (len(missing), missing[:3]))
    check("timestamps and values identical", not wrong, "%d differ, e.g. %s" % (len(wrong), wrong[:5]))
    check("and nothing else (stale markers aside)", not extra, "%d extra, e.g. %s" % (len(extra), extra[:5]))
    check("the same series", set(got) >= set(expected), [k for k in expected if k not in got][:3])

    # metadata arrives too (Prometheus sends it every send_interval)
    def meta():
        with conn.cursor() as cur:
            cur.execute("SELECT type FROM mimir.metadata WHERE metric = 'prometheus_tsdb_head_series'")
            return cur.fetchall()
    for _ in range(30):
        if meta():
            break
        time.sleep(0.5)
    check("metadata stored (prometheus_tsdb_head_series is a gauge)", ("gauge",) in meta(), meta())

    r = prom_get(port, "/api/v1/query", query="sum(prometheus_remote_storage_samples_failed_total)")
    failed_total = float(r["data"]["result"][0]["value"][1]) if r["data"]["result"] else 0
    r = prom_get(port, "/api/v1/query", query="sum(prometheus_remote_storage_samples_total)")
    sent_total = float(r["data"]["result"][0]["value"][1]) if r["data"]["result"] else 0
    check("Prometheus' remote-write queue: %d samples sent, none failed" % sent_total,
          failed_total == 0 and sent_total > 0, (failed_total, sent_total))
finally:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    conn.close()
    cluster.cleanup()

finish()
