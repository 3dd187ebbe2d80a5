#!/usr/bin/python3
"""Crash test: a 2xx means committed. Writers push to a private cluster and
record every acknowledged batch; the postmaster and all its processes are
killed with SIGKILL mid-stream (twice, the background cutter running), the
cluster restarts, and every acknowledged sample must be there, bit-exact,
with nothing that was never sent. Then everything is resent (as Prometheus
retries: the unacknowledged batch first, nothing acknowledged), and once
cut into chunks each sample is stored exactly once.
Prints "N passed, N failed"."""
import http.client
import os
import random
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import Cluster  # noqa: E402
from rwproto import snappy, write_request  # noqa: E402

WRITERS = 4
SERIES = 50          # per writer
BASE = (int(time.time()) - 3600) * 1000
# 100 ms apart: a fast machine's thousands of batches must stay within the creation grace period
STEP_MS = 100


def value(w, step, j):
    # distinct, non-trivial bit patterns (a NaN payload now and then)
    if (step + j) % 97 == 0:
        return struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    return step * 1.25 + j / 8 + w * 1000


def body(w, step):
    t = BASE + step * STEP_MS
    return snappy(write_request([([("__name__", "crash_m"), ("j", "%02d" % j), ("w", str(w))],
                                  [(t, value(w, step, j))], []) for j in range(SERIES)]))


class Writer(threading.Thread):
    def __init__(self, cluster, w, first_step, stop):
        super().__init__(daemon=True)
        self.c, self.w, self.step, self.stop = cluster, w, first_step, stop
        self.acked, self.sent = set(), set()
        self.last_error = None

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.c.http_port, timeout=10)
                self.sent.add(self.step)
                conn.request("POST", "/api/v1/push", body(self.w, self.step),
                             {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
                r = conn.getresponse()
                r.read()
                if 200 <= r.status < 300:
                    self.acked.add(self.step)
                    self.step += 1
                elif r.status >= 500 or r.status == 429:
                    time.sleep(0.05)        # retried, as Prometheus does
                else:
                    self.last_error = "unexpected %d" % r.status
                    time.sleep(0.05)
            except (OSError, http.client.HTTPException) as e:
                self.last_error = repr(e)
                conn = None
                time.sleep(0.05)


def stored(c):
    rows = c.sql("SELECT labels->>'w', labels->>'j', (extract(epoch FROM t) * 1000)::bigint, float8send(value) "
                 "FROM mimir.samples('crash_m', to_timestamp(0), now() + interval '1 day')")
    out = {}
    for w, j, t, v in rows:
        out[(int(w), int(j), (t - BASE) // STEP_MS)] = bytes(v)
    return out


def verify(c, writers, label):
    have = stored(c)
    missing = bad = 0
    for wr in writers:
        for step in wr.acked:
            for j in range(SERIES):
                v = have.get((wr.w, j, step))
                if v is None:
                    missing += 1
                elif v != struct.pack(">d", value(wr.w, step, j)):
                    bad += 1
    sent = {(wr.w, s) for wr in writers for s in wr.sent}
    foreign = [k for k in have if (k[0], k[2]) not in sent]
    nacked = sum(len(wr.acked) for wr in writers) * SERIES
    check("%s: all %d acknowledged samples survived the crash" % (label, nacked), missing == 0 and nacked > 0,
          "%d missing" % missing)
    check("%s: bit-exact values" % label, bad == 0, "%d differ" % bad)
    check("%s: nothing that was never sent" % label, not foreign, foreign[:5])


c = Cluster("crash", ["mimir.cut_interval = '300ms'", "mimir.head_max_age = '1s'", "mimir.ingest_workers = 2",
                      "log_min_messages = warning"])
try:
    c.start()
    c.sql("CREATE EXTENSION mimir")
    check("cluster ready", c.wait_ready(60))
    all_writers = []
    prev = {}
    for crash in (1, 2):
        stop = threading.Event()
        # each writer goes on where it stopped: its unacknowledged batch first
        writers = [Writer(c, w, prev[w].step if w in prev else 0, stop) for w in range(WRITERS)]
        for wr in writers:
            wr.start()
        time.sleep(2.5 + random.random() * 2)
        c.kill9()
        stop.set()
        for wr in writers:
            wr.join(15)
        all_writers += writers
        check("crash %d: writers were acknowledged before the kill" % crash, all(wr.acked for wr in writers),
              [(len(wr.acked), wr.last_error) for wr in writers])
        c.start()
        check("crash %d: restarted and ready" % crash, c.wait_ready(60), c.log_tail())
        verify(c, all_writers, "crash %d" % crash)
        prev = {wr.w: wr for wr in writers}

    # the senders retry their unacknowledged batch (which may or may not have been committed)
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=30)
    for wr in prev.values():
        conn.request("POST", "/api/v1/push", body(wr.w, wr.step),
                     {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            errors += 1
        wr.acked.add(wr.step)
    check("retrying the unacknowledged batches: 200 (an identical sample is accepted silently)", errors == 0, errors)
    verify(c, all_writers, "after the retries")
    while c.sql("SELECT mimir.cut_head(100000)")[0][0] > 0:
        pass
    n = c.sql("SELECT coalesce(sum(mimir.chunk_count(c.chunk)), 0) FROM mimir.chunks c JOIN mimir.all_series() s ON s.id = c.series_id "
              "WHERE s.labels @> ARRAY(SELECT id FROM mimir.label_pairs WHERE name = '__name__' AND value = 'crash_m')")[0][0]
    head = c.sql("SELECT count(*) FROM mimir.head")[0][0]
    want = len({(wr.w, s) for wr in all_writers for s in wr.sent}) * SERIES
    check("cut into chunks, every sample exactly once (%d)" % want, n == want and head == 0, (n, want, head))
finally:
    c.cleanup()

finish()
