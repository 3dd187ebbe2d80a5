"""testdb.py — the test cluster that test/run_tests.sh started (PGHOST and
PGPORT in the environment): connections and one-statement queries for the
integration scripts that share it."""
import os

import psycopg2


def connect(autocommit=True):
    c = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres")
    c.autocommit = autocommit
    return c


def sql(conn, q, *args):
    """Runs q with args on conn; its rows, or None for a statement without any."""
    with conn.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall() if cur.description else None
