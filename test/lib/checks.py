"""checks.py — what every integration script reports with: `check` prints one
"ok"/"FAIL" line per check, `finish` prints the "N passed, N failed" line that
test/run_tests.sh counts and exits non-zero when anything failed."""
import sys

_counts = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        _counts["passed"] += 1
        print("ok   ", name)
    else:
        _counts["failed"] += 1
        print("FAIL ", name, str(detail)[:2000])
    sys.stdout.flush()
    return cond


def failed():
    return _counts["failed"]


def finish():
    print("%d passed, %d failed" % (_counts["passed"], _counts["failed"]))
    sys.exit(1 if _counts["failed"] else 0)
