#!/usr/bin/python3
"""Chunk packs across a restart, on a private cluster: after the settled
chunks of a series were packed and PostgreSQL restarted, remote write
warms the series map from the packs (the series' latest sample is in a
packed chunk), so out-of-order samples and duplicates with another value
are still rejected as Mimir does, an identical duplicate is accepted, and
late samples within the out-of-order window are merged into packed chunks.
Prints "N passed, N failed"."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from pgtmp import Cluster  # noqa: E402

NOW = int(time.time() * 1000)
BASE = NOW - 3 * 3600 * 1000 - (NOW % 15000)
LAST = BASE + 239 * 15000


def samples(c, name):
    return c.sql("SELECT t, value FROM mimir.samples(%s, now() - interval '4 hours', now()) ORDER BY t", name)


c = Cluster("packing_restart", ["mimir.ingest_workers = 1"])
try:
    c.start()
    c.sql("CREATE EXTENSION mimir")
    check("ready", c.wait_ready())
    st, body = c.push([([("__name__", "pk_a")], [(BASE + i * 15000, float(i)) for i in range(240)], []),
                        ([("__name__", "pk_b")], [(BASE + i * 15000, float(i)) for i in range(240)], [])])
    check("240 samples of two series stored", st == 200, (st, body))
    c.sql("SELECT mimir.cut_head(100000)")
    c.sql("SELECT mimir.pack_chunks('1 hour')")
    plain = c.sql("SELECT count(*) FROM mimir.chunks")[0][0]
    packed = c.sql("SELECT count(*) FROM mimir.chunk_pack_entries()")[0][0]
    check("their chunks are packed", plain == 0 and packed == 2, (plain, packed))
    rows = c.sql("SELECT (SELECT count(*) FROM mimir.series), (SELECT count(*) FROM mimir.series_blocks)")[0]
    check("and their series (series blocks)", rows[0] == 0 and rows[1] == 1, rows)
    c.sql("SELECT mimir.set_limit('out_of_order_time_window', '4h', 'anonymous')")
    c.stop()
    c.start()
    check("ready after the restart", c.wait_ready())

    st, body = c.push([([("__name__", "pk_a")], [(BASE + 100 * 15000 + 7, 5.0)], [])], tenant=None)
    check("(out-of-order window 4h) a late sample into a packed chunk: 200", st == 200, (st, body))
    c.sql("SELECT mimir.set_limit('out_of_order_time_window', '0s', 'anonymous')")
    st, body = c.push([([("__name__", "pk_b")], [(BASE + 100 * 15000 + 7, 5.0)], [])])
    check("an out-of-order sample behind a packed chunk: 400 (the map was warmed from the pack)",
          st == 400 and "err-mimir-sample-out-of-order" in body, (st, body))
    st, body = c.push([([("__name__", "pk_b")], [(LAST, 239.0)], [])])
    check("an identical duplicate of the packed last sample: 200", st == 200, (st, body))
    st, body = c.push([([("__name__", "pk_b")], [(LAST, 1.0)], [])])
    check("the same timestamp with another value: 400", st == 400 and "err-mimir-sample-duplicate-timestamp" in body,
          (st, body))
    st, body = c.push([([("__name__", "pk_b")], [(LAST + 15000, 240.0)], [])])
    check("a newer sample: 200", st == 200, (st, body))
    c.sql("SELECT mimir.cut_head(100000)")
    check("no series created again (found packed by the warmed map)",
          c.sql("SELECT count(*), count(DISTINCT labels) FROM mimir.all_series()")[0] == (2, 2))
    a = samples(c, "pk_a")
    b = samples(c, "pk_b")
    check("pk_a: 241 samples, the late one merged where it belongs",
          len(a) == 241 and [v for _, v in a][101] == 5.0 and sum(v for _, v in a) == sum(range(240)) + 5.0,
          (len(a), a[99:103]))
    check("pk_b: 241 samples, nothing rejected stored", len(b) == 241 and sum(v for _, v in b) == sum(range(241)),
          (len(b), b[-3:]))
    plain = c.sql("SELECT count(*) FROM mimir.chunks")[0][0]
    check("pk_a's packed chunk came back as a plain one for the merge", plain >= 2, plain)
    check("packed and plain never overlap",
          c.sql("""WITH x AS (SELECT series_id, mint, (extract(epoch FROM mimir.chunk_end(chunk)) * 1000)::bigint AS maxt
                                FROM mimir.chunks
                              UNION ALL SELECT series_id, mint, (extract(epoch FROM mimir.chunk_end(chunk)) * 1000)::bigint
                                FROM mimir.chunk_pack_entries()),
                       o AS (SELECT *, lag(maxt) OVER (PARTITION BY series_id ORDER BY mint) AS prev FROM x)
                   SELECT count(*) FROM o WHERE prev >= mint""")[0][0] == 0)
except Exception as e:  # noqa: BLE001
    check("no unexpected error", False, (e, c.log_tail()))
finally:
    c.cleanup()
finish()
