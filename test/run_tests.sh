#!/bin/bash
# `make test`: builds and installs the extension, starts a throwaway cluster
# on a free port, runs every suite (pg_regress, C-level tests, fuzzers for a
# bounded time, integration and conformance tests), stops the cluster and
# prints "N passed, N failed". Exit status is non-zero if anything failed.
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/pgcluster.sh
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}

make -s >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
make -s install >/dev/null || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }

TMP=$ROOT/.test
rm -rf "$TMP"
chmod o+x "$ROOT" 2>/dev/null || true
export PGPORT=$(free_port) PGHOST=$TMP PGUSER=postgres PGDATABASE=postgres
# the HTTP workers of the test cluster listen on a free port too
export MIMIR_HTTP_PORT=$(free_port)
export MIMIR_URL=http://127.0.0.1:$MIMIR_HTTP_PORT
cleanup() { cluster_stop "$TMP"; }
trap cleanup EXIT
cluster_init "$TMP" "$PGPORT" "mimir.cut_interval = '1s'" "mimir.http_port = $MIMIR_HTTP_PORT" || exit 1
cluster_start "$TMP" || exit 1
psql -Xq -c "CREATE EXTENSION mimir" -c "CREATE EXTENSION pg_cron" >/dev/null || exit 1

PASSED=0
FAILED=0
FAILED_SUITES=""
LOGDIR=$TMP/logs
mkdir -p "$LOGDIR"

# run_suite NAME COMMAND...: counts the suite's "N passed, N failed" line
run_suite() {
    local name=$1; shift
    local log=$LOGDIR/$name.log
    printf '%-24s ' "$name"
    "$@" >"$log" 2>&1
    local rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    local p=0 f=0
    if [ -n "$line" ]; then
        p=$(echo "$line" | awk '{print $1}')
        f=$(echo "$line" | awk '{print $3}')
    fi
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if [ "$f" != 0 ]; then
        FAILED_SUITES="$FAILED_SUITES $name"
        echo "FAILED ($p passed, $f failed) — log: $log"
        tail -30 "$log" | sed 's/^/    /'
    else
        echo "ok ($p passed)"
    fi
}

regress() {
    make -s installcheck >"$LOGDIR/regress.out" 2>&1
    local rc=$?
    cat "$LOGDIR/regress.out"
    [ -f regression.diffs ] && head -100 regression.diffs
    local ok fail
    ok=$(grep -cE '^(ok|test) .*\.\.\. ok|^ok ' "$LOGDIR/regress.out")
    ok=$(grep -cE '\.\.\. ok' "$LOGDIR/regress.out")
    fail=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$LOGDIR/regress.out")
    echo "$ok passed, $fail failed"
    return $rc
}
run_suite regress regress

for d in codec promql distributor; do
    [ -f test/$d/Makefile ] && run_suite "$d" make -s -C test/$d check
done
for d in codec distributor; do
    [ -f test/$d/Makefile ] && grep -q '^fuzz:' test/$d/Makefile && run_suite "$d-fuzz" make -s -C test/$d fuzz
done

for t in test/integration/*.sh test/integration/*.py; do
    [ -e "$t" ] || continue
    run_suite "$(basename "${t%.*}")" "$t"
done

CONF=$ROOT/../shared/promql-conformance
if [ -d "$CONF" ]; then
    if [ "$(psql -XAtc "SELECT count(*) FROM pg_proc WHERE proname = 'query' AND pronamespace = 'mimir'::regnamespace")" != 0 ]; then
        run_suite conformance test/run_conformance.sh "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" "$CONF"/testdata/*.test
    else
        echo "conformance              skipped (mimir.query not implemented yet)"
    fi
fi

echo
[ -n "$FAILED_SUITES" ] && echo "failed suites:$FAILED_SUITES"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
