#!/usr/bin/python3
"""The cutter against concurrent remote writes: every acknowledged sample is
in storage afterwards. mimir.cut_head chooses the committed head rows to cut
and then reads them; a row committed in between must be read (or not
chosen), never deleted unread. The cutter runs back to back in two sessions
while four senders push."""
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from testdb import connect  # noqa: E402
from rwproto import snappy, write_request  # noqa: E402

URL = "http://127.0.0.1:%s/api/v1/push" % os.environ["MIMIR_HTTP_PORT"]
TENANT = "cut-race"
SERIES = 30
SECONDS = 8


def push(series):
    r = urllib.request.Request(URL, data=snappy(write_request(series)), method="POST",
                               headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                        "X-Scope-OrgID": TENANT})
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


main = connect()
cur = main.cursor()
cur.execute("SELECT mimir.delete_tenant(%s)", (TENANT,))  # a clean slate when run again
cur.execute("SHOW mimir.multitenancy_enabled")
multitenant = cur.fetchone()[0] == "on"
stop = threading.Event()
acks, refused, cuts = [], [], []
lock = threading.Lock()
start = int(time.time() * 1000) - 1800 * 1000


def sender(w):
    k = 0
    while not stop.is_set():
        k += 1
        t = start + k
        st, body = push([([("__name__", "cut_race"), ("w", str(w)), ("s", str(j))], [(t, float(j))], [])
                         for j in range(SERIES)])
        with lock:
            (acks if st == 200 else refused).append((w, t) if st == 200 else (st, body[:200]))


def cutter():
    c = connect()
    n = 0
    while not stop.is_set():
        with c.cursor() as k:
            k.execute("SELECT mimir.cut_head(20)")
        n += 1
    cuts.append(n)
    c.close()


threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)] + \
    [threading.Thread(target=cutter) for _ in range(2)]
for t in threads:
    t.start()
time.sleep(SECONDS)
stop.set()
for t in threads:
    t.join()
tenant = TENANT if multitenant else "anonymous"
cur.execute("SELECT (labels->>'w')::int, (extract(epoch FROM t) * 1000)::bigint, count(*) "
            "FROM mimir.samples('cut_race', to_timestamp(0), now() + interval '1 hour', %s) GROUP BY 1, 2",
            (tenant,))
stored = {(w, t): n for w, t, n in cur.fetchall()}
missing = [a for a in acks if stored.get(a) != SERIES]
check("pushes while the cutter runs back to back: all 200", len(acks) > 100 and not refused and sum(cuts) > 20,
      (len(acks), refused[:3], cuts))
check("...every acknowledged push is stored whole", not missing,
      "%d of %d pushes incomplete, e.g. %s" % (len(missing), len(acks), [(a, stored.get(a)) for a in missing[:5]]))
finish()
