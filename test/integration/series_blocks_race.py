#!/usr/bin/python3
"""Series blocks and concurrent series creation: one label set never gets
two series ids. The packer (mimir.pack_series) skips a tenant while a
transaction that created series is open; a creator waits while the packer
holds the tenant; a REPEATABLE READ transaction whose snapshot predates the
packing still finds the packed series."""
import os
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from testdb import connect, sql  # noqa: E402

TENANT = "blk-race"
T = "2024-01-01 00:00:00+00"


def copies(conn, metric):
    """(plain rows, all series) of the tenant with this metric name"""
    return tuple(sql(conn, """
        SELECT count(*) FILTER (WHERE s.id IN (SELECT id FROM mimir.series)), count(*)
          FROM mimir.all_series() s JOIN mimir.tenants t ON t.id = s.tenant_id
         WHERE t.name = %s AND s.labels && ARRAY(SELECT id FROM mimir.label_pairs lp
                                                 WHERE lp.tenant_id = t.id AND name = '__name__' AND value = %s)""",
                     TENANT, metric)[0])


main = connect()
packer = connect()
try:
    # 1. a creator's open transaction: the packer leaves the tenant alone
    sql(main, "SELECT mimir.write('race_a{k=\"0\"}', %s, 1, %s)", T, TENANT)
    a = connect(autocommit=False)
    sql(a, "SELECT mimir.write('race_a{k=\"1\"}', %s, 1, %s)", T, TENANT)
    t0 = time.time()
    sql(packer, "SELECT mimir.pack_series()")
    waited = time.time() - t0
    left = copies(main, "race_a")
    a.commit()
    check("the packer gives up on a tenant with an open creating transaction (after retrying)",
          waited > 2 and left == (1, 1), (waited, left))
    sql(packer, "SELECT mimir.pack_series()")
    check("and packs it once the creator committed", copies(main, "race_a") == (0, 2), copies(main, "race_a"))
    sql(main, "SELECT mimir.write('race_a{k=\"1\"}', %s, 2, %s)", "2024-01-01 00:01:00+00", TENANT)
    check("writing it again finds the packed series", copies(main, "race_a") == (0, 2), copies(main, "race_a"))

    # 2. the packer holds the tenant: a creator of the same label set waits, then finds the packed id
    sql(main, "SELECT mimir.write('race_b{k=\"1\"}', %s, 1, %s)", T, TENANT)
    p = connect(autocommit=False)
    sql(p, "SELECT mimir.pack_series()")
    done = []

    def create():
        c = connect()
        sql(c, "SELECT mimir.write('race_b{k=\"1\"}', %s, 3, %s)", "2024-01-01 00:02:00+00", TENANT)
        done.append(time.time())
        c.close()

    th = threading.Thread(target=create)
    th.start()
    time.sleep(1.5)
    blocked = not done
    p.commit()
    th.join(30)
    check("a creator waits while the packer holds its tenant", blocked and done, (blocked, done))
    check("and then gets the packed id (one series)", copies(main, "race_b") == (0, 1), copies(main, "race_b"))
    n = sql(main, "SELECT count(*) FROM mimir.samples('race_b', '2024-01-01', '2024-01-02', %s)", TENANT)[0][0]
    check("with both samples", n == 2, n)

    # 3. REPEATABLE READ: the snapshot predates the series and its packing
    sql(main, "SELECT mimir.write('race_c{k=\"0\"}', %s, 1, %s)", T, TENANT)
    sql(main, "SELECT mimir.write('race_other{k=\"1\"}', %s, 1, %s)", T, TENANT)
    rr = connect(autocommit=False)
    sql(rr, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    sql(rr, "SELECT count(*) FROM mimir.tenants")
    sql(main, "SELECT mimir.write('race_c{k=\"1\"}', %s, 1, %s)", T, TENANT)
    sql(packer, "SELECT mimir.pack_series()")
    try:
        sql(rr, "SELECT mimir.write('race_c{k=\"1\"}', %s, 5, %s)", "2024-01-01 00:03:00+00", TENANT)
        rr.commit()
        ok = True
    except psycopg2.Error as e:  # a serialization failure would be acceptable too: nothing duplicated
        rr.rollback()
        ok = e.pgcode == "40001"
    check("a REPEATABLE READ creator finds a series packed after its snapshot", ok)
    check("one series for the label set", copies(main, "race_c") == (0, 2), copies(main, "race_c"))
except Exception as e:  # noqa: BLE001
    check("no unexpected error", False, e)
finish()
