#!/usr/bin/python3
"""The ruler's notifications reach a real Alertmanager (Debian's
prometheus-alertmanager on a free loopback port): an alert is sent only after
the evaluating transaction commits, shows up firing with its labels and
annotations, is resolved, and alerts queued while Alertmanager is down are
delivered once it is back. Also checks the ruler's HTTP API
(/prometheus/api/v1/alerts, /api/v1/rules, /prometheus/config/v1/rules)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import free_port  # noqa: E402

TENANT = "am_it"


def http(url, method="GET", body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return 0, str(e), {}


def wait_for(fn, timeout, step=0.25):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(step)


AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
if AM_BIN is None:
    print("prometheus-alertmanager is not installed (test/deps.sh installs it)")
    print("0 passed, 1 failed")
    sys.exit(1)

conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres",
                        dbname=os.environ.get("PGDATABASE", "postgres"))
conn.autocommit = True
MIMIR = os.environ.get("MIMIR_URL", "http://127.0.0.1:%s" % os.environ.get("MIMIR_HTTP_PORT", "8080"))


def sql(q, *args):
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None


workdir = tempfile.mkdtemp(prefix="mimir_am_")
am_port = free_port()
AM = "http://127.0.0.1:%d" % am_port
with open(os.path.join(workdir, "am.yml"), "w") as f:
    f.write("route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            "receivers:\n  - name: blackhole\n")
am_proc = None


def start_am():
    global am_proc
    am_proc = subprocess.Popen([AM_BIN, "--config.file=" + os.path.join(workdir, "am.yml"),
                                "--storage.path=" + os.path.join(workdir, "data"),
                                "--web.listen-address=127.0.0.1:%d" % am_port,
                                "--cluster.listen-address="],
                               stdout=open(os.path.join(workdir, "am.log"), "a"), stderr=subprocess.STDOUT)
    return wait_for(lambda: http(AM + "/-/ready", timeout=2)[0] == 200, 30)


def stop_am():
    global am_proc
    if am_proc is not None:
        am_proc.terminate()
        try:
            am_proc.wait(10)
        except subprocess.TimeoutExpired:
            am_proc.kill()
            am_proc.wait()
        am_proc = None


def am_alerts(name):
    st, body, _ = http(AM + "/api/v2/alerts")
    if st != 200:
        return None
    return [a for a in json.loads(body) if a["labels"].get("alertname") == name]


def outbox():
    return sql("SELECT resolved, attempts, delivered, last_error FROM mimir.alert_outbox WHERE tenant = %s "
               "ORDER BY id", TENANT)


try:
    check("alertmanager starts on a free port", start_am(), open(os.path.join(workdir, "am.log")).read()[-500:])
    sql("ALTER SYSTEM SET mimir.alertmanager_url = %s", AM)
    sql("SELECT pg_reload_conf()")
    time.sleep(1.5)

    sql("SELECT mimir.delete_tenant(%s)", TENANT)
    now = sql("SELECT now()")[0][0]
    sql("SELECT mimir.write('am_metric{job=\"it\",instance=\"a\"}', now() - s * interval '15 s', 1, %s) "
        "FROM generate_series(0, 3) s", TENANT)
    sql("""SELECT mimir.set_rule_group('alerts', $$
name: am
interval: 15s
rules:
  - alert: AmTest
    expr: am_metric > 0
    labels:
      severity: test
    annotations:
      summary: "{{ $labels.instance }} is {{ $value }}"
  - alert: AmOutage
    expr: am_outage > 0
$$, %s)""", TENANT)

    # 1. nothing leaves before the evaluating transaction commits
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SELECT state FROM mimir.evaluate_rule_group('alerts', 'am', now(), %s) WHERE rule = 'AmTest'",
                    (TENANT,))
        states = cur.fetchall()
        check("the alert fires at its first evaluation (for: 0)", states == [("firing",)], states)
        time.sleep(2)
        check("nothing is sent while the evaluation is uncommitted", am_alerts("AmTest") == [], am_alerts("AmTest"))
    conn.commit()
    conn.autocommit = True

    got = wait_for(lambda: am_alerts("AmTest"), 15)
    check("Alertmanager receives the firing alert after commit", got and len(got) == 1, got)
    if got:
        a = got[0]
        check("labels: series labels + rule labels + alertname",
              a["labels"] == {"alertname": "AmTest", "severity": "test", "job": "it", "instance": "a"}, a["labels"])
        check("annotations are templated", a["annotations"] == {"summary": "a is 1"}, a["annotations"])
        check("state active", a["status"]["state"] == "active", a["status"])
        check("generatorURL links the expression", "/graph?g0.expr=am_metric+%3E+0&g0.tab=1" in a["generatorURL"],
              a["generatorURL"])
        check("endsAt is a few evaluation intervals ahead (4 x resend delay)",
              a["endsAt"] > a["startsAt"], (a["startsAt"], a["endsAt"]))
    check("a delivered notification leaves the outbox", wait_for(lambda: outbox() == [], 10), outbox())

    # 2. resolved: sent once with endsAt, Alertmanager drops it long before the firing endsAt
    sql("SELECT mimir.write('am_metric{job=\"it\",instance=\"a\"}', now() + interval '1 s', 0, %s)", TENANT)
    time.sleep(1.2)
    rows = sql("SELECT rule, state FROM mimir.evaluate_rule_group('alerts', 'am', now(), %s)", TENANT)
    check("the alert resolves when the condition clears", ("AmTest", "inactive") in rows, rows)
    check("resolved notification queued once", [r[0] for r in (outbox() or [])] in ([True], []), outbox())
    check("Alertmanager sees the alert resolved",
          wait_for(lambda: am_alerts("AmTest") == [], 15), am_alerts("AmTest"))

    # 3. Alertmanager down: nothing lost, retried with back-off, delivered when it is back
    stop_am()
    sql("SELECT mimir.write('am_outage{job=\"it\"}', now(), 7, %s)", TENANT)
    time.sleep(1.2)
    rows = sql("SELECT rule, state FROM mimir.evaluate_rule_group('alerts', 'am', now(), %s)", TENANT)
    check("second alert fires while Alertmanager is down", ("AmOutage", "firing") in rows, rows)
    retried = wait_for(lambda: (outbox() or [(None, 0, None, None)])[0][1] >= 2, 20)
    ob = outbox()
    check("undelivered notification stays queued and is retried", retried and len(ob) == 1, ob)
    check("the delivery error is recorded", ob and ob[0][3] and "alerts" in ob[0][3], ob)
    check("Alertmanager is back", start_am())
    got = wait_for(lambda: am_alerts("AmOutage"), 70)
    check("the queued alert is delivered after the outage", got and got[0]["labels"]["alertname"] == "AmOutage", got)
    check("outbox drained", wait_for(lambda: outbox() == [], 10), outbox())

    # 4. the ruler's HTTP API shows the same state
    hdr = {"X-Scope-OrgID": TENANT}
    st, body, h = http(MIMIR + "/prometheus/api/v1/alerts", headers=hdr)
    check("GET /prometheus/api/v1/alerts: 200 JSON", st == 200 and "json" in h.get("Content-Type", ""), (st, body))
    if st == 200:
        al = json.loads(body)["data"]["alerts"]
        check("/api/v1/alerts lists the firing alert (not the resolved one)",
              [(a["labels"]["alertname"], a["state"]) for a in al] == [("AmOutage", "firing")], al)
        check("alert value is Go's %e format", al and al[0]["value"] == "7e+00", al)
    st, body, _ = http(MIMIR + "/api/v1/rules?type=alert", headers=hdr)
    check("GET /api/v1/rules: 200", st == 200, (st, body))
    if st == 200:
        groups = json.loads(body)["data"]["groups"]
        check("rules API: the group with its two alerting rules",
              [(g["name"], g["file"], [r["name"] for r in g["rules"]]) for g in groups] == [("am", "alerts", ["AmTest", "AmOutage"])],
              groups)
        if groups:
            r = {x["name"]: x for x in groups[0]["rules"]}
            check("rules API: state, health and type per rule",
                  (r["AmOutage"]["state"], r["AmOutage"]["health"], r["AmOutage"]["type"], r["AmTest"]["state"]) ==
                  ("firing", "ok", "alerting", "inactive"), r)
            check("rules API: interval in seconds", groups[0]["interval"] == 15, groups[0]["interval"])
    st, body, _ = http(MIMIR + "/api/v1/rules?type=record", headers=hdr)
    check("rules API: type=record filters the alerting rules (and so the group) out",
          st == 200 and json.loads(body)["data"]["groups"] == [], body)
    st, body, _ = http(MIMIR + "/api/v1/rules?type=bogus", headers=hdr)
    check("rules API: bad type is 400 bad_data", st == 400 and "bad_data" in body, (st, body))
    st, body, h = http(MIMIR + "/prometheus/config/v1/rules", headers=hdr)
    check("GET /prometheus/config/v1/rules: YAML of the namespace's groups",
          st == 200 and body.startswith("alerts:\n    - name: am\n") and "yaml" in h.get("Content-Type", ""), (st, body))
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules", headers={"X-Scope-OrgID": "am_it_nobody"})
    check("config API without rules: 200 {}", st == 200 and body.strip() == "{}", (st, body))
    # per-namespace and per-group paths of Mimir's config API
    grp = "name: viahttp\ninterval: 1m\nrules:\n  - record: job:am_metric:sum\n    expr: sum(am_metric)\n"
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules/httpns", "POST", grp.encode(),
                       headers=dict(hdr, **{"Content-Type": "application/yaml"}))
    check("POST /prometheus/config/v1/rules/{ns}: 202", st == 202, (st, body))
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules/httpns/viahttp", headers=hdr)
    check("GET .../rules/{ns}/{group}: the group's YAML",
          st == 200 and "name: viahttp" in body and "job:am_metric:sum" in body, (st, body))
    st, body, _ = http(MIMIR + "/config/v1/rules/httpns", headers=hdr)
    check("GET /config/v1/rules/{ns} (no prefix): the namespace's groups",
          st == 200 and "viahttp" in body, (st, body))
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules/httpns", "POST", b"name: [",
                       headers=dict(hdr, **{"Content-Type": "application/yaml"}))
    check("POST of invalid YAML: 400 with the reason", st == 400 and body.strip() != "", (st, body))
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules/httpns/viahttp", "DELETE", headers=hdr)
    check("DELETE .../rules/{ns}/{group}: 202", st == 202, (st, body))
    st, body, _ = http(MIMIR + "/prometheus/config/v1/rules/httpns/viahttp", headers=hdr)
    check("the deleted group is gone: 404", st == 404, (st, body))
finally:
    try:
        conn.autocommit = True
        sql("ALTER SYSTEM RESET mimir.alertmanager_url")
        sql("SELECT pg_reload_conf()")
        sql("SELECT mimir.delete_tenant(%s)", TENANT)
    except Exception as e:  # noqa: BLE001
        print("cleanup:", e)
    stop_am()
    shutil.rmtree(workdir, ignore_errors=True)

finish()
