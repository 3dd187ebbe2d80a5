#!/bin/bash
# Query benchmark (issue 4 "Speed and memory"): loads the standard rwload
# data set into mimir and into a local Prometheus (2.42 from Debian), both
# through remote write, then times, in one run, six range queries over the
# last hour at 60 s step on both systems and checks that both return the
# same series and values (1e-6 relative).
#
# Primary timing: the Prometheus HTTP API of each system, called the way
# Grafana's Prometheus data source calls it (POST .../api/v1/query_range,
# form-encoded query/start/end/step, JSON answer read completely over a
# keep-alive connection). mimir also gets an SQL column (the rows of
# mimir.query_range fetched by a client through COPY) and an engine-only
# column (the rows produced, not sent).
#
# mimir is timed in the storage states a server goes through (env
# BENCH_STATES, default "head steady chunked packed"):
#   head     everything still in the head (the cutter stopped)
#   steady   what a running server holds: samples older than
#            mimir.head_max_age (10 min) cut into chunks, the rest in the head
#   chunked  the head cut completely
#   packed   then settled chunks and the series packed (mimir.pack_chunks, the
#            compactor's job: chunk packs and series blocks)
# The summary table is the steady state's.
#
# Env: BENCH_SERIES (100000), BENCH_STEPS (240), BENCH_CONNS (4),
#      BENCH_RUNS (3, best of), BENCH_STATES, BENCH_KEEP (1: leave servers
#      running and their data; the ports are in .bench/query/env).
# mimir is loaded through POST /api/v1/push; only if that endpoint does not
# work are the same requests captured by test/bench_rw_dump and loaded
# through SQL (mimir.write). The output says which was used and, when the
# push failed, why.
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/pgcluster.sh
SERIES=${BENCH_SERIES:-100000}
STEPS=${BENCH_STEPS:-240}
CONNS=${BENCH_CONNS:-4}
RUNS=${BENCH_RUNS:-3}
STATES=${BENCH_STATES:-head steady chunked packed}
RWLOAD_SRC=$ROOT/../shared/bench/rwload.c
OUT=$ROOT/.bench/query
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$ROOT/.bench" "$OUT"

[ -f "$RWLOAD_SRC" ] || { echo "no $RWLOAD_SRC: skipping the query benchmark"; exit 0; }
if ! command -v prometheus >/dev/null; then
    [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    command -v prometheus >/dev/null || { echo "prometheus is not installed: skipping the query benchmark"; exit 0; }
fi
cc -O2 -o "$OUT/rwload" "$RWLOAD_SRC" -lsnappy -lpthread || exit 1
cc -O2 -o "$OUT/rw_dump" test/bench_rw_dump.c -lsnappy -lpthread || exit 1
make -s >/dev/null && make -s install >/dev/null || exit 1

PIDS=()
PGDIR=$OUT/pg
cleanup() {
    [ "${BENCH_KEEP:-0}" = 1 ] && { echo "servers left running (BENCH_KEEP=1): see $OUT/env"; return; }
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    cluster_stop "$PGDIR"
}
trap cleanup EXIT

# Samples at START + k*15s; queries end 7 s after the last sample so that no
# window boundary falls on a sample (Prometheus 2.42 has left-closed windows,
# Prometheus 3 and mimir left-open ones: on such data both agree).
START=$(( ( $(date +%s) - STEPS * 15 ) * 1000 ))
END_MS=$(( START + (STEPS - 1) * 15000 + 7000 ))
BEGIN_MS=$(( END_MS - 3600000 ))

# The cutter stays off while loading so that each state below is reached on
# purpose; mimir.head_max_age is what a running server keeps in the head.
PORT=$(free_port); HTTP=$(free_port)
cluster_init "$PGDIR" "$PORT" "mimir.http_port = $HTTP" "shared_buffers = '2GB'" \
    "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "mimir.cut_interval = 0" \
    "work_mem = '64MB'" >/dev/null || exit 1
cluster_start "$PGDIR" || exit 1
PSQL="$PGBIN/psql -XAtq -h $PGDIR -p $PORT -U postgres"
$PSQL -c "CREATE EXTENSION mimir" >/dev/null || exit 1
HEAD_MAX_AGE_MS=$($PSQL -c "SELECT setting::bigint FROM pg_settings WHERE name = 'mimir.head_max_age'")
HEAD_MAX_AGE_MS=${HEAD_MAX_AGE_MS:-600000}

echo "== query benchmark: rwload -s $SERIES -t $STEPS -c $CONNS =="
# mimir: remote write (an empty WriteRequest first: it stores nothing but
# shows whether the endpoint answers), else the same requests through SQL
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/ready" >/dev/null && break; sleep 0.2; done
PUSH_WHY=""
probe=$(printf '\000' | curl -s -m 20 -o "$OUT/probe.body" -w '%{http_code}' --data-binary @- \
    -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
    -H 'X-Prometheus-Remote-Write-Version: 0.1.0' "http://127.0.0.1:$HTTP/api/v1/push")
if [ "$probe" = 200 ] || [ "$probe" = 204 ]; then
    echo "loading mimir through POST /api/v1/push"
    t0=$(date +%s.%N)
    line=$(timeout 1800 "$OUT/rwload" -u "http://127.0.0.1:$HTTP/api/v1/push" -s "$SERIES" -t "$STEPS" \
        -c "$CONNS" -T "$START" 2>&1 | tail -1)
    rc=${PIPESTATUS[0]}
    echo "mimir: $line"
    if [ "$rc" = 0 ] && echo "$line" | grep -q ' errors=0 '; then
        LOADED_BY="remote write (POST /api/v1/push, $(awk "BEGIN{printf \"%.0f\", $(date +%s.%N) - $t0}") s)"
    else
        PUSH_WHY="rwload exit status $rc: $line"
        [ "$rc" = 124 ] && PUSH_WHY="the push did not finish within 30 minutes (hangs); last rwload line: $line"
    fi
else
    PUSH_WHY="an empty WriteRequest got HTTP ${probe:-no answer} ($(head -c 300 "$OUT/probe.body" 2>/dev/null | tr '\n' ' '))"
fi
if [ -n "$PUSH_WHY" ]; then
    echo "mimir's POST /api/v1/push does not work here: $PUSH_WHY"
    echo "falling back: capturing the same remote-write requests and loading them through SQL"
    $PSQL -c "DROP EXTENSION mimir CASCADE" -c "CREATE EXTENSION mimir" >/dev/null || exit 1
    DP=$(free_port)
    "$OUT/rw_dump" "$DP" "$OUT/series.tsv" "$OUT/samples.tsv" & PIDS+=($!)
    sleep 0.3
    "$OUT/rwload" -u "http://127.0.0.1:$DP/api/v1/push" -s "$SERIES" -t "$STEPS" -c "$CONNS" -T "$START" | tail -1
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'
    chmod 644 "$OUT"/*.tsv
    t0=$(date +%s.%N)
    $PSQL <<SQL || exit 1
SET mimir.tenant = 'anonymous';
CREATE UNLOGGED TABLE bench_series(id int PRIMARY KEY, s text);
CREATE UNLOGGED TABLE bench_samples(id int, t bigint, v float8);
\copy bench_series FROM '$OUT/series.tsv'
\copy bench_samples FROM '$OUT/samples.tsv'
CREATE INDEX ON bench_samples(t);
SQL
    for ((k = 0; k < STEPS; k += 10)); do
        $PSQL -c "SELECT count(mimir.write(s.s, to_timestamp(x.t / 1000.0), x.v)) FROM bench_samples x JOIN bench_series s USING (id)
                  WHERE x.t >= $START + $k * 15000 AND x.t < $START + ($k + 10) * 15000" >/dev/null || exit 1
    done
    $PSQL -c "DROP TABLE bench_samples" -c "DROP TABLE bench_series" >/dev/null
    echo "loaded $(($SERIES * $STEPS)) samples through SQL in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
    LOADED_BY="SQL (mimir.write) after the push failed: $PUSH_WHY"
fi
$PSQL -c "VACUUM ANALYZE" >/dev/null

# Prometheus
PP=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$OUT/prom.yml"
prometheus --config.file="$OUT/prom.yml" --storage.tsdb.path="$OUT/prom" --web.listen-address="127.0.0.1:$PP" \
    --web.enable-remote-write-receiver --storage.tsdb.retention.time=100y >"$OUT/prom.log" 2>&1 & PIDS+=($!)
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$PP/-/ready" >/dev/null && break; sleep 0.2; done
echo "prometheus: $("$OUT/rwload" -u "http://127.0.0.1:$PP/api/v1/write" -s "$SERIES" -t "$STEPS" -c "$CONNS" -T "$START" | tail -1)"

cat >"$OUT/env" <<ENV
PGDIR=$PGDIR
PORT=$PORT
HTTP=$HTTP
PP=$PP
BEGIN_MS=$BEGIN_MS
END_MS=$END_MS
ENV

# cut_to STATE: bring mimir's storage into STATE (states only move forward)
cut_to() {
    case $1 in
        head) ;;
        steady)
            # what the cutter leaves: head rows holding samples newer than
            # head_max_age stay (cut_head takes the oldest rows first)
            $PSQL -c "SET mimir.chunk_max_samples = 240" -c "
                DO \$\$ DECLARE
                    lim bigint := (SELECT max(id) FROM mimir.head WHERE maxt < $END_MS - $HEAD_MAX_AGE_MS);
                    todo int := (SELECT count(*) FROM mimir.head WHERE id <= lim);
                    done int;
                BEGIN
                    WHILE todo > 0 LOOP
                        done := mimir.cut_head(todo);
                        EXIT WHEN done = 0;
                        todo := todo - done;
                    END LOOP;
                END \$\$" >/dev/null || return 1 ;;
        chunked)
            $PSQL -c "SET mimir.chunk_max_samples = 240" -c "
                DO \$\$ BEGIN
                    WHILE EXISTS (SELECT 1 FROM mimir.head) LOOP PERFORM mimir.cut_head(500); END LOOP;
                END \$\$" >/dev/null || return 1 ;;
        packed)
            $PSQL -c "SET mimir.chunk_max_samples = 240" -c "
                DO \$\$ BEGIN
                    WHILE EXISTS (SELECT 1 FROM mimir.head) LOOP PERFORM mimir.cut_head(500); END LOOP;
                    PERFORM mimir.pack_chunks();
                END \$\$" >/dev/null || return 1 ;;
        *) echo "unknown state $1"; return 1 ;;
    esac
    $PSQL -c "VACUUM ANALYZE" >/dev/null
    $PSQL -F ' ' -c "SELECT 'mimir storage: ' || (SELECT count(*) FROM mimir.head) || ' head rows with '
                         || coalesce((SELECT sum(n) FROM mimir.head), 0) || ' samples, '
                         || (SELECT count(*) FROM mimir.chunks) || ' chunks with '
                         || coalesce((SELECT sum(mimir.chunk_count(chunk)) FROM mimir.chunks), 0) || ' samples, '
                         || (SELECT count(*) FROM mimir.chunk_packs) || ' chunk packs'"
}

rc=0
for state in $STATES; do
    echo
    echo "== state: $state =="
    cut_to "$state" || { rc=1; break; }
    /usr/bin/python3 test/bench_query.py "$PGDIR" "$PORT" "$HTTP" "$PP" "$BEGIN_MS" "$END_MS" "$RUNS" \
        "$LOADED_BY" "$state" "$OUT/table.$state" || rc=1
done
if [ -f "$OUT/table.steady" ]; then
    echo
    echo "== summary (steady state) =="
    cat "$OUT/table.steady"
fi
echo "query benchmark results: $( [ $rc = 0 ] && echo 'all results agree' || echo 'RESULTS DIFFER')"
exit $rc
