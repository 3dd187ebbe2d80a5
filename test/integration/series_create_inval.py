#!/usr/bin/python3
"""Series creation while the id caches are invalidated: any relcache
invalidation of mimir.tenants / label_pairs / series (an ANALYZE, as
autovacuum runs, is enough) empties every backend's id caches at its next
lookup. A write that is creating label pairs and series at that moment must
still succeed, not fail with "created by a concurrent transaction"."""
import os
import sys
import threading

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from checks import check, finish  # noqa: E402
from testdb import connect  # noqa: E402

TENANT = "inval"
N = 1500


main = connect()
cur = main.cursor()
cur.execute("SELECT mimir.delete_tenant(%s)", (TENANT,))  # a clean slate when run again
stop = threading.Event()
analyzed = []


def analyze():
    c = connect()
    k = 0
    while not stop.is_set():
        with c.cursor() as a:
            a.execute("ANALYZE mimir.%s" % ("label_pairs", "series", "tenants")[k % 3])
        k += 1
    analyzed.append(k)
    c.close()


th = threading.Thread(target=analyze)
th.start()
errors = {}
for i in range(N):
    try:
        cur.execute("SELECT mimir.write(%s, '2024-01-01 00:00:00+00', %s, %s)",
                    ('inval_m{a="%d",b="%d"}' % (i, i % 7), float(i), TENANT))
    except psycopg2.Error as e:
        m = (e.pgerror or str(e)).split("\n")[0]
        errors[m] = errors.get(m, 0) + 1
stop.set()
th.join()
check("series created while ANALYZE invalidates the id caches: no write fails",
      not errors and analyzed and analyzed[0] > 10, (errors, analyzed))
cur.execute("SELECT count(*), count(DISTINCT labels) FROM mimir.samples('inval_m', '2024-01-01', '2024-01-02', %s)",
            (TENANT,))
n, distinct = cur.fetchone()
check("...every sample stored, each on its own series", n == N and distinct == N, (n, distinct))
finish()
