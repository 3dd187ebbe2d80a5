#!/usr/bin/python3
"""Compactor jobs that waited for the chunk lock work on what is stored when
they get it, not on what their statement saw when it began. A cut that runs
while mimir.pack_chunks waits rewrites a chunk in place (a late sample merged
into it, same series and mint); the packer must pack the new version, or it
would delete it and keep the old one, losing the late sample."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from testdb import connect, sql  # noqa: E402

TENANT = "compactor-race"
LOCK_KEY = 0x6d696d6972  # the chunk writers' advisory lock (cut.c, compactor.h)


def count(conn):
    return sql(conn, "SELECT count(*), sum(value) FROM mimir.samples('race_m', '2024-01-01', '2024-01-02', %s)",
               TENANT)[0]


main = connect()
sql(main, "SELECT mimir.delete_tenant(%s)", TENANT)
# one series, samples every 10 s from 00:00 to 00:09:50 (60, sum 0..59), all cut into one chunk
sql(main, """SELECT count(mimir.write('race_m{k="1"}', '2024-01-01'::timestamptz + i * interval '10 s', i, %s))
             FROM generate_series(0, 59) i""", TENANT)
while sql(main, "SELECT mimir.cut_head(1000)")[0][0] > 0:
    pass
before = count(main)

# the "cutter" holds the chunk lock while the packer starts and waits
cutter = connect(autocommit=False)
sql(cutter, "SELECT pg_advisory_xact_lock(%s)", LOCK_KEY)
packed = []


def pack():
    c = connect()
    packed.append(sql(c, "SELECT mimir.pack_chunks('0', 1000000)")[0][0])
    c.close()


th = threading.Thread(target=pack)
th.start()
time.sleep(1.0)
waiting = th.is_alive()
# a late sample (00:04:05) merged into the stored chunk by a cut in the lock holder's transaction
sql(cutter, "SELECT mimir.write('race_m{k=\"1\"}', '2024-01-01 00:04:05+00', 1000, %s)", TENANT)
sql(cutter, "SELECT mimir.cut_head(1000)")
cutter.commit()
th.join(60)
after = count(main)
check("setup: 60 samples cut, the packer waited for the lock", before == (60, float(sum(range(60)))) and waiting,
      (before, waiting))
check("the packer packed the chunk the cut rewrote", packed and packed[0] >= 1, packed)
check("...with the late sample: nothing lost", after == (61, float(sum(range(60)) + 1000)), (before, after))
finish()
