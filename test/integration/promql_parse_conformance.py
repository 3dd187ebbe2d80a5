#!/usr/bin/python3
"""Parses every PromQL expression of Prometheus' conformance test files
(../shared/promql-conformance/testdata/*.test, `eval ...` lines) with
mimir.promql_format: each expression of an `eval` (not `eval_fail`) case must
parse, and printing it then parsing the printed text again must give the same
text (round trip). `eval_fail` expressions may fail at parse or at run time;
those that parse must round-trip too. Prints `N passed, N failed`."""
import glob
import os
import re
import sys

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CANDIDATES = [os.environ.get("PROMQL_CONFORMANCE_DIR", ""),
              os.path.join(ROOT, "..", "shared", "promql-conformance"),
              os.path.join(ROOT, "..", "..", "shared", "promql-conformance")]
EVAL_INSTANT_RE = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
EVAL_RANGE_RE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")


def expressions(path):
    """(line number, mode, expression) of every eval line of a test file."""
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        r = EVAL_RANGE_RE.match(line)
        m = EVAL_INSTANT_RE.match(line)
        if r:
            yield n, r.group(1), r.group(5)
        elif m:
            yield n, m.group(1), m.group(3)


def main():
    verbose = "-v" in sys.argv
    conf = next((c for c in CANDIDATES if c and os.path.isdir(os.path.join(c, "testdata"))), None)
    if conf is None:
        print("conformance test data not found (set PROMQL_CONFORMANCE_DIR)")
        print("0 passed, 1 failed")
        return 1
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                            user=os.environ.get("PGUSER", "postgres"),
                            dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    cur = conn.cursor()

    def fmt(q):
        try:
            cur.execute("SELECT mimir.promql_format(%s)", (q,))
            return cur.fetchone()[0], None
        except psycopg2.Error as e:
            return None, (e.pgcode, e.pgerror.strip().splitlines()[0])

    passed = failed = fail_parse_errors = 0
    for path in sorted(glob.glob(os.path.join(conf, "testdata", "*.test"))):
        name = os.path.basename(path)
        for n, mode, expr in expressions(path):
            out, err = fmt(expr)
            if err:
                if mode == "fail" and err[0] == "42601":
                    fail_parse_errors += 1
                    if verbose:
                        print("%s:%d: eval_fail expression is a parse error: %s" % (name, n, err[1]))
                    continue
                failed += 1
                print("FAIL %s:%d: %s\n     %s" % (name, n, expr, err[1]))
                continue
            again, err2 = fmt(out)
            if again != out:
                failed += 1
                print("FAIL %s:%d: %s\n     printed %s, printed again %s %s" % (name, n, expr, out, again, err2 or ""))
                continue
            passed += 1
            if verbose:
                print("ok   %s:%d: %s  =>  %s" % (name, n, expr, out))
    print("(%d eval_fail expressions are parse errors, as allowed)" % fail_parse_errors)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
