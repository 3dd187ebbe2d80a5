#!/usr/bin/python3
"""Series blocks past the series map, on a private cluster whose map holds
fewer series than it is sent (mimir.head_series_capacity = 1000): series
the map cannot hold are looked up in SQL, and packed ones are found by their
labels (no second id), their samples checked against storage (duplicates
with another value rejected); the per-metric series limit counts packed
series. Prints "N passed, N failed"."""
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import Cluster  # noqa: E402

NOW = int(time.time() * 1000)
BASE = NOW - 3 * 3600 * 1000 - (NOW % 15000)
LAST = BASE + 239 * 15000


N = 1200


def many(t, v, extra=()):
    return [([("__name__", "lk"), ("i", str(i))], [(t, v)], []) for i in range(N)] + list(extra)


def counts(c):
    return c.sql("SELECT (SELECT count(*) FROM mimir.series), (SELECT count(*) FROM mimir.all_series())")[0]


c = Cluster("series_blocks_lookup", ["mimir.ingest_workers = 1", "mimir.head_series_capacity = 1000"])
try:
    c.start()
    c.sql("CREATE EXTENSION mimir")
    check("ready", c.wait_ready())
    st, body = c.push(many(BASE, 1.0))
    check("%d series stored" % N, st == 200 and counts(c) == (N, N), (st, body, counts(c)))
    c.sql("SELECT mimir.pack_series()")
    check("and packed", counts(c) == (0, N), counts(c))
    full = c.sql("SELECT count(*) FROM mimir.series_blocks")[0][0]
    with urllib.request.urlopen(c.url + "/metrics", timeout=10) as r:
        m = [ln for ln in r.read().decode().splitlines() if ln.startswith("mimir_series_map_full_total ")]
    check("the map could not hold them all", m and float(m[0].split()[1]) > 0, m)
    st, body = c.push(many(BASE + 15000, 2.0))
    check("the same series again (some past the map): no second id", st == 200 and counts(c) == (0, N),
          (st, body, counts(c)))
    st, body = c.push(many(BASE, 3.0))
    check("another value at a stored timestamp: 400", st == 400 and "err-mimir-sample-duplicate-timestamp" in body,
          (st, body[:300]))
    n = c.sql("SELECT count(*), sum(value) FROM mimir.samples('lk', now() - interval '5 hours', now())")[0]
    check("nothing of it stored", n[0] == 2 * N and n[1] == 3.0 * N, n)
    c.sql("SELECT mimir.set_limit('max_global_series_per_metric', '%d', 'anonymous')" % N)
    st, body = c.push([([("__name__", "lk"), ("i", "new")], [(BASE, 1.0)], [])])
    check("the per-metric series limit counts packed series: 400",
          st == 400 and "per-metric series limit" in body and counts(c) == (0, N), (st, body[:300], counts(c)))
    st, body = c.push([([("__name__", "lk2"), ("i", "new")], [(BASE, 1.0)], [])])
    check("another metric: 200", st == 200 and counts(c) == (1, N + 1), (st, body, counts(c)))
    check("blocks unchanged", c.sql("SELECT count(*) FROM mimir.series_blocks")[0][0] == full)
except Exception as e:  # noqa: BLE001
    check("no unexpected error", False, (e, c.log_tail()))
finally:
    c.cleanup()
finish()
