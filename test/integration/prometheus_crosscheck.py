#!/usr/bin/python3
"""Live cross-check against real Prometheus.

Starts Debian's `prometheus` scraping real targets on loopback every second
(itself, mimir's /metrics and prometheus-alertmanager's /metrics) with
remote_write to mimir, lets it run long enough for the rate windows, then asks
both HTTP APIs the same instant and range queries at several evaluation times
and requires equal results: label sets exactly, values within 1e-6 relative.

Prometheus 2.42 (Debian 12) selects ranges left-closed, [t - r, t]; Prometheus 3
(whose semantics mimir follows) left-open, (t - r, t]. The two agree unless a
sample sits exactly on t - r. Evaluation times are therefore chosen with a
millisecond part away from every target's scrape phase, so ordinary queries
never touch that boundary; one extra case puts t - r exactly on a sample on
purpose and checks that the only difference is that one boundary sample.

Environment: MIMIR_URL (HTTP API of the suite's cluster), PGHOST/PGPORT
(unused here), CROSSCHECK_SECONDS (scrape time, default 180),
CROSSCHECK_RW_URL (remote-write URL, default MIMIR_URL/api/v1/push).
"""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import free_port  # noqa: E402

MIMIR = os.environ.get("MIMIR_URL") or "http://127.0.0.1:%s" % os.environ["MIMIR_HTTP_PORT"]
RW_URL = os.environ.get("CROSSCHECK_RW_URL", MIMIR + "/api/v1/push")
RUN_SECONDS = int(os.environ.get("CROSSCHECK_SECONDS", "180"))
TENANT = "crosscheck"
REL = 1e-6
procs = []
tmp = tempfile.mkdtemp(prefix="crosscheck-")


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def get(base, path, params, headers=None, timeout=60):
    url = base + path + "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body
    except Exception as e:  # connection refused while starting up
        return 0, str(e)


def wait_ready(url, what, seconds=60):
    for _ in range(seconds * 5):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.2)
    check("%s comes up" % what, False, url)
    return False


def start():
    am_port, prom_port = free_port(), free_port()
    am_dir = os.path.join(tmp, "alertmanager")
    os.makedirs(am_dir)
    with open(os.path.join(am_dir, "am.yml"), "w") as f:
        f.write("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    am_bin = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    procs.append(subprocess.Popen(
        [am_bin, "--config.file=" + os.path.join(am_dir, "am.yml"), "--storage.path=" + am_dir,
         "--web.listen-address=127.0.0.1:%d" % am_port, "--cluster.listen-address="],
        stdout=open(os.path.join(tmp, "am.log"), "w"), stderr=subprocess.STDOUT))
    mimir = urllib.parse.urlparse(MIMIR)
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:%d']}]
  - job_name: mimir
    static_configs: [{targets: ['%s']}]
  - job_name: alertmanager
    static_configs: [{targets: ['127.0.0.1:%d']}]
remote_write:
  - url: %s
    headers: {X-Scope-OrgID: %s}
    queue_config: {batch_send_deadline: 1s, max_samples_per_send: 2000, min_backoff: 100ms, max_backoff: 1s}
""" % (prom_port, mimir.netloc, am_port, RW_URL, TENANT))
    procs.append(subprocess.Popen(
        ["prometheus", "--config.file=" + os.path.join(tmp, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(tmp, "data"), "--web.listen-address=127.0.0.1:%d" % prom_port,
         "--storage.tsdb.retention.time=1d"],
        stdout=open(os.path.join(tmp, "prometheus.log"), "w"), stderr=subprocess.STDOUT))
    return "http://127.0.0.1:%d" % prom_port, "http://127.0.0.1:%d" % am_port


def close(a, b):
    if a == b:
        return True
    fa, fb = float(a), float(b)
    if math.isnan(fa) and math.isnan(fb):
        return True
    if math.isinf(fa) or math.isinf(fb):
        return fa == fb
    return abs(fa - fb) <= REL * max(abs(fa), abs(fb)) or abs(fa - fb) < 1e-12


def key(metric):
    return tuple(sorted(metric.items()))


def compare(p, m, ordered=False):
    """None if the two results are equal, else a description of the difference."""
    if p.get("status") != "success" or m.get("status") != "success":
        return "status: prometheus %s, mimir %s" % (p.get("error", p.get("status")), m.get("error", m.get("status")))
    pd, md = p["data"], m["data"]
    if pd["resultType"] != md["resultType"]:
        return "result type %s vs %s" % (pd["resultType"], md["resultType"])
    t = pd["resultType"]
    if t in ("scalar", "string"):
        if pd["result"][0] != md["result"][0] or not close(pd["result"][1], md["result"][1]):
            return "%s vs %s" % (pd["result"], md["result"])
        return None
    field = "value" if t == "vector" else "values"
    ps = {key(s["metric"]): s[field] for s in pd["result"]}
    ms = {key(s["metric"]): s[field] for s in md["result"]}
    if set(ps) != set(ms):
        return "series only in prometheus: %s; only in mimir: %s" % (
            [dict(k) for k in set(ps) - set(ms)][:5], [dict(k) for k in set(ms) - set(ps)][:5])
    for k in ps:
        a, b = ps[k], ms[k]
        if t == "vector":
            a, b = [a], [b]
        if len(a) != len(b):
            return "%s: %d points vs %d" % (dict(k), len(a), len(b))
        for x, y in zip(a, b):
            if x[0] != y[0] or not close(x[1], y[1]):
                return "%s: prometheus %s, mimir %s" % (dict(k), x, y)
    if ordered:
        pv = [float(s["value"][1]) for s in pd["result"]]
        mv = [float(s["value"][1]) for s in md["result"]]
        if any(not close(x, y) for x, y in zip(pv, mv)):
            return "order differs: %s vs %s" % (pv[:10], mv[:10])
    return None


INSTANT = [
    # selectors and every matcher
    'up', 'up{job="prometheus"}', 'up{job!="prometheus"}', 'up{job=~"prom.*|alertmanager"}', 'up{job!~"prom.*"}',
    '{__name__=~"go_goroutines|process_open_fds"}', 'scrape_samples_scraped{job="mimir"}',
    'go_goroutines offset 30s', 'prometheus_http_requests_total{handler="/metrics"} offset 1m',
    # aggregations
    'sum(up)', 'sum by (job) (scrape_samples_scraped)', 'sum without (instance) (scrape_series_added)',
    'avg by (job) (go_memstats_alloc_bytes)', 'count by (job) (up)', 'max by (handler) (prometheus_http_requests_total)',
    'min(go_goroutines)', 'topk(3, prometheus_http_requests_total)', 'bottomk(2, go_goroutines)',
    'quantile(0.9, scrape_samples_scraped)', 'stddev(go_goroutines)', 'stdvar by (job) (process_open_fds)',
    'count_values("v", up)', 'group by (job) (up)',
    # rates and friends
    'rate(prometheus_http_requests_total[1m])', 'irate(process_cpu_seconds_total[1m])',
    'increase(prometheus_http_requests_total{handler="/metrics"}[2m])', 'delta(go_goroutines[1m])',
    'deriv(process_resident_memory_bytes[1m])', 'predict_linear(go_memstats_alloc_bytes[1m], 60)',
    'rate(process_cpu_seconds_total[1m] offset 30s)', 'changes(go_goroutines[2m])',
    'resets(prometheus_http_requests_total[2m])',
    # *_over_time
    'avg_over_time(go_goroutines[1m])', 'min_over_time(go_goroutines[1m])', 'max_over_time(go_goroutines[1m])',
    'sum_over_time(scrape_samples_scraped[30s])', 'count_over_time(up[1m])', 'last_over_time(go_goroutines[1m])',
    'stddev_over_time(go_memstats_alloc_bytes[1m])', 'quantile_over_time(0.5, scrape_duration_seconds[1m])',
    'present_over_time(up[1m])',
    # histograms and summaries
    'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))',
    'histogram_quantile(0.5, rate(prometheus_http_request_duration_seconds_bucket{handler="/metrics"}[2m]))',
    'go_gc_duration_seconds{quantile="0.5"}',
    # binary operators and vector matching
    'go_goroutines / on(job, instance) scrape_samples_scraped',
    'sum by (job) (rate(process_cpu_seconds_total[1m])) / on(job) group_left count by (job) (up)',
    'scrape_samples_scraped * on(job, instance) group_left(version) prometheus_build_info',
    'up == 1', 'up > bool 0', 'go_goroutines > 10', 'up and on(job) go_goroutines', 'up or vector(0)',
    'go_goroutines unless on(job) up{job="prometheus"}', '2 * go_goroutines - 1', 'go_goroutines % 7', '2 ^ up',
    # functions
    'label_replace(up, "host", "$1", "instance", "(.*):.*")', 'label_join(up, "ji", "/", "job", "instance")',
    'absent(nonexistent_metric_xyz{job="x"})', 'absent(up)', 'absent_over_time(nonexistent_metric_xyz[1m])',
    'clamp_max(go_goroutines, 10)', 'abs(delta(go_goroutines[1m]))', 'round(go_memstats_alloc_bytes / 1e6, 0.1)',
    'time() - process_start_time_seconds', 'timestamp(up)', 'scalar(sum(up))', 'vector(1) + 1', 'sgn(delta(go_goroutines[1m]))',
    # subqueries
    'max_over_time(rate(prometheus_http_requests_total{handler="/metrics"}[30s])[1m:10s])',
    'avg_over_time(go_goroutines[1m:5s])', 'rate(process_cpu_seconds_total[30s:5s])',
]
ORDERED = ['sort_desc(sum by (job) (scrape_samples_scraped))', 'sort(go_goroutines)']
RANGE = [
    'up', 'sum by (job) (rate(prometheus_http_requests_total[1m]))', 'go_goroutines offset 10s',
    'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))',
    'avg_over_time(go_goroutines[30s])', 'topk(2, scrape_samples_scraped)', 'absent(nonexistent_metric_xyz)',
    'label_replace(rate(process_cpu_seconds_total[1m]), "h", "$1", "instance", "(.*):.*")',
    'max_over_time(deriv(go_goroutines[30s])[1m:10s])', 'count(up) by (job) * 2',
]


def main():
    for tool in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            check("%s is installed (test/deps.sh installs it)" % tool, False)
            return
    # Debian's Prometheus 2.42 does not send remote_write `headers`, so the samples land in
    # the tenant the distributor assigns without X-Scope-OrgID; series of an earlier run
    # still inside the lookback window would show up in mimir's answers only.
    st, js = get(MIMIR, "/prometheus/api/v1/series", {"match[]": '{job=~"prometheus|mimir|alertmanager"}',
                                                     "start": "%d" % (time.time() - 900)}, {"X-Scope-OrgID": TENANT})
    if not check("mimir holds no recent series of these jobs from an earlier run (use a fresh cluster)",
                 st == 200 and js["data"] == [], (st, str(js)[:300])):
        return
    prom, am = start()
    if not (wait_ready(prom + "/-/ready", "prometheus") and wait_ready(am + "/-/ready", "alertmanager")):
        return
    began = time.time()
    print("scraping every 1 s with remote_write to %s for %d s ..." % (RW_URL, RUN_SECONDS))
    hdr = {"X-Scope-OrgID": TENANT}
    while time.time() - began < RUN_SECONDS:
        time.sleep(5)
    # all three targets up, and remote write delivered samples
    st, js = get(prom, "/api/v1/query", {"query": "up"})
    check("prometheus scrapes its three targets", st == 200 and sorted(s["metric"]["job"] for s in js["data"]["result"]) ==
          ["alertmanager", "mimir", "prometheus"] and all(s["value"][1] == "1" for s in js["data"]["result"]), js)
    st, js = get(prom, "/api/v1/query", {"query": "sum(prometheus_remote_storage_samples_failed_total) + sum(prometheus_remote_storage_samples_dropped_total or vector(0))"})
    check("remote write to mimir fails nothing", st == 200 and js["data"]["result"] and float(js["data"]["result"][0]["value"][1]) == 0, js)
    time.sleep(3)
    st, js = get(MIMIR, "/prometheus/api/v1/query", {"query": "count by (job) (up)", "time": "%d" % (time.time() - 10)},
                 {"X-Scope-OrgID": TENANT})
    if not check("mimir received the three targets' series through remote write",
                 st == 200 and sorted(s["metric"].get("job") for s in js["data"]["result"]) == ["alertmanager", "mimir", "prometheus"],
                 (st, str(js)[:300])):
        return

    # scrape phases: evaluation times keep their ms part away from every target's
    st, js = get(prom, "/api/v1/query", {"query": "timestamp(up)"})
    phases = sorted(int(round(float(s["value"][1]) * 1000)) % 1000 for s in js["data"]["result"])
    best = max(range(0, 1000, 7), key=lambda ms: min(min(abs(ms - p), 1000 - abs(ms - p)) for p in phases))
    # the earliest evaluation still has every window (2m + 30s offset) after the first scrape:
    # windows that contain a counter's first samples would also show Prometheus 3's changed
    # extrapolation towards the counter's zero point, which 2.42 computes in another order
    now = int(time.time()) - 12
    evals = [now + best / 1000.0, now - 12 + best / 1000.0, now - 24 + best / 1000.0]
    print("scrape phases (ms): %s; evaluating at .%03d after the second, at %s" % (phases, best, evals))

    for q in INSTANT + ORDERED:
        for t in evals:
            sp, p = get(prom, "/api/v1/query", {"query": q, "time": "%.3f" % t})
            sm, m = get(MIMIR, "/prometheus/api/v1/query", {"query": q, "time": "%.3f" % t}, hdr)
            diff = "HTTP %s vs %s" % (sp, sm) if sp != sm else compare(p, m, q in ORDERED)
            check("instant %-70s @%.3f" % (q, t), diff is None, diff)
    for q in RANGE:
        end = evals[0]
        params = {"query": q, "start": "%.3f" % (end - 60), "end": "%.3f" % end, "step": "5"}
        sp, p = get(prom, "/api/v1/query_range", params)
        sm, m = get(MIMIR, "/prometheus/api/v1/query_range", params, hdr)
        diff = "HTTP %s vs %s" % (sp, sm) if sp != sm else compare(p, m)
        check("range   %-70s" % q, diff is None, diff)

    # the one known semantic difference, on purpose: t - r exactly on a sample
    st, js = get(prom, "/api/v1/query", {"query": 'timestamp(up{job="prometheus"})', "time": "%.3f" % evals[1]})
    ts = float(js["data"]["result"][0]["value"][1])
    t = ts + 10  # the sample at ts is exactly at t - 10s
    q = 'count_over_time(up{job="prometheus"}[10s])'
    sp, p = get(prom, "/api/v1/query", {"query": q, "time": "%.3f" % t})
    sm, m = get(MIMIR, "/prometheus/api/v1/query", {"query": q, "time": "%.3f" % t}, hdr)
    try:
        pc, mc = float(p["data"]["result"][0]["value"][1]), float(m["data"]["result"][0]["value"][1])
    except (KeyError, IndexError, TypeError):
        pc = mc = None
    print("boundary case: %s at %.3f with a sample exactly at t - 10s: prometheus 2.42 (left-closed [t-r, t]) "
          "counts %s, mimir (Prometheus 3, left-open (t-r, t]) counts %s" % (q, t, pc, mc))
    check("boundary case differs by exactly the sample at t - r (2.42 left-closed vs 3.x left-open)",
          pc is not None and pc == mc + 1, (p, m))


try:
    main()
finally:
    stop_all()
finish()
