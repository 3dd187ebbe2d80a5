#!/usr/bin/python3
"""The HTTP workers' lifecycle, on private clusters: not ready (503) until
the extension exists and again while it is gone, a worker that dies is
restarted, a busy port is a clear log line, and the port is released when
PostgreSQL stops. Prints "N passed, N failed"."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import Cluster  # noqa: E402
from rwproto import snappy, write_request  # noqa: E402

NOW = int(time.time() * 1000)


def req(url, body=None, method="GET"):
    r = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)
    except OSError as e:
        return None, str(e), {}


def push(c, name, t=NOW, v=1.0):
    return req(c.url + "/api/v1/push", snappy(write_request([([("__name__", name)], [(t, v)], [])])), "POST")


def wait_for(fn, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.2)
    return False


def workers(c):
    out = subprocess.run(["pgrep", "-P", str(c.postmaster_pid()), "-f", "mimir http worker"],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return sorted(int(p) for p in out)


def port_free(port):
    # as a server would (SO_REUSEADDR: connections in TIME_WAIT do not count)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


c = Cluster("lifecycle", ["mimir.ingest_workers = 2"])
c2 = None
try:
    c.start()
    check("before CREATE EXTENSION: /ready is 503", wait_for(lambda: req(c.url + "/ready")[0] == 503))
    st, body, hdr = push(c, "lc_up")
    check("...and a push is 503 with Retry-After (the sender retries)", st == 503 and "Retry-After" in hdr, (st, body))
    c.sql("CREATE EXTENSION mimir")
    check("after CREATE EXTENSION: /ready is 200", wait_for(lambda: req(c.url + "/ready")[0] == 200))
    check("...and pushes are stored", push(c, "lc_up")[0] == 200 and
          c.sql("SELECT count(*) FROM mimir.samples('lc_up', now() - interval '1 hour', now() + interval '1 hour')")[0][0] == 1)

    c.sql("DROP EXTENSION mimir CASCADE")
    st, body, hdr = push(c, "lc_up", NOW + 1)
    check("extension dropped: 503 with Retry-After", st == 503 and "Retry-After" in hdr, (st, body))
    check("...and /ready is 503", wait_for(lambda: req(c.url + "/ready")[0] == 503, 5))
    c.sql("CREATE EXTENSION mimir")
    check("extension back: /ready is 200", wait_for(lambda: req(c.url + "/ready")[0] == 200))
    st, body, _ = push(c, "lc_up", NOW + 2, 2.0)
    check("a series known before the drop is stored again in the new tables", st == 200 and
          c.sql("SELECT value FROM mimir.samples('lc_up', now() - interval '1 hour', now() + interval '1 hour')") == [(2.0,)],
          (st, body))

    before = workers(c)
    check("two HTTP workers", len(before) == 2, before)
    os.kill(before[0], signal.SIGTERM)
    check("a worker that dies is restarted", wait_for(lambda: len(workers(c)) == 2 and workers(c) != before, 15),
          (before, workers(c)))
    ok = all(push(c, "lc_after_restart", NOW + i)[0] == 200 for i in range(20))
    check("...and every push is served afterwards", ok)

    # a second server configured with the same port
    c2 = Cluster("lifecycle2", ["mimir.ingest_workers = 1", "mimir.http_port = %d" % c.http_port])
    c2.start()
    time.sleep(2)
    log = open(os.path.join(c2.dir, "postgres.log")).read()
    check("a busy port is a clear log line", "could not listen on 127.0.0.1:%d: Address already in use" % c.http_port in log,
          log[-1500:])
    check("...and the first server keeps serving", push(c, "lc_busy")[0] == 200)
    c2.cleanup()
    c2 = None

    port = c.http_port
    c.stop()
    check("the port is released when PostgreSQL stops", wait_for(lambda: port_free(port), 10))
finally:
    if c2:
        c2.cleanup()
    c.cleanup()

finish()
