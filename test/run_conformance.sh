#!/bin/bash
# Prometheus' PromQL test files through ../shared/promql-conformance/run.py,
# verbose so that failures are named. run.py skips the rest of a block whose
# load fails without counting a failure; here a failed load is a failure,
# except the one the files ask for: aggregators.test writes two values for
# one sample (data{test="inf3",point="d"} at 0), which mimir refuses as Mimir
# does (err-mimir-sample-duplicate-timestamp).
# Usage: run_conformance.sh DSN FILE...
dsn=$1; shift
conf=$(cd "$(dirname "$0")/../../shared/promql-conformance" && pwd) || exit 1
out=$(/usr/bin/python3 "$conf/run.py" -v --dsn "$dsn" "$@")
rc=$?
echo "$out"
expected='load failed: ERROR:  duplicate sample for timestamp 1970-01-01 00:00:00+00 in series data{point="d", test="inf3"} with different value: stored Infinity, new -Infinity'
unexpected=$(echo "$out" | grep "load failed" | grep -vcF "$expected")
echo "$out" | grep "load failed" | grep -vF "$expected" | sed 's/^/unexpected: /'
line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
passed=$(echo "$line" | awk '{print $1}')
failed=$(echo "$line" | awk '{print $3}' | tr -d ,)
[ -n "$passed" ] || { echo "0 passed, 1 failed"; exit 1; }
echo "$passed passed, $((failed + unexpected)) failed"
[ $rc = 0 ] && [ "$unexpected" = 0 ]
