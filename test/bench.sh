#!/bin/bash
# `make bench`: codec speed and size, then remote-write ingestion of the
# standard rwload run against mimir, VictoriaMetrics and Prometheus in one
# run (this machine is noisy: compare ratios from the same run).
# Env: BENCH_SERIES (100000), BENCH_STEPS (240), BENCH_CONNS (4), BENCH_PEERS (1).
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/pgcluster.sh
SERIES=${BENCH_SERIES:-100000}
STEPS=${BENCH_STEPS:-240}
CONNS=${BENCH_CONNS:-4}
RWLOAD_SRC=$ROOT/../shared/bench/rwload.c
OUT=$ROOT/.bench
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$OUT"

echo "== codec (one core) =="
make -s -C test/codec bench || exit 1

[ -f "$RWLOAD_SRC" ] || { echo "no $RWLOAD_SRC: skipping ingestion benchmark"; exit 0; }
if [ "$(id -u)" = 0 ]; then
    for p in victoria-metrics prometheus; do
        command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $p >/dev/null
    done
fi
cc -O2 -o "$OUT/rwload" "$RWLOAD_SRC" -lsnappy -lpthread || exit 1
make -s >/dev/null && make -s install >/dev/null || exit 1

# peak RSS (kB) of a process tree, sampled every 0.5 s into $2 until killed
watch_rss() {
    local pattern=$1 file=$2 peak=0
    while sleep 0.5; do
        local s
        s=$(ps -eo rss=,args= | grep -E "$pattern" | grep -v grep | awk '{s+=$1} END {print s+0}')
        [ "$s" -gt "$peak" ] && peak=$s && echo $peak >"$file"
    done
}

run_load() {   # url label
    "$OUT/rwload" -u "$1" -s "$SERIES" -t "$STEPS" -c "$CONNS" 2>&1 | tail -1
}

echo
echo "== remote write: rwload -s $SERIES -t $STEPS -c $CONNS =="
RESULTS=$OUT/results.txt
: >"$RESULTS"

# mimir
PGDIR=$OUT/pg
PORT=$(free_port); HTTP=$(free_port)
cluster_init "$PGDIR" "$PORT" "mimir.http_port = $HTTP" "shared_buffers = '2GB'" \
    "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "wal_compression = off" >/dev/null || exit 1
cluster_start "$PGDIR" || exit 1
psql -Xq -h "$PGDIR" -p "$PORT" -U postgres -c "CREATE EXTENSION mimir" >/dev/null
for i in $(seq 1 50); do curl -sf "http://127.0.0.1:$HTTP/ready" >/dev/null && break; sleep 0.2; done
watch_rss "postgres: |/postgresql/15/bin/postgres" "$OUT/mimir.rss" & W=$!
line=$(run_load "http://127.0.0.1:$HTTP/api/v1/push")
kill $W 2>/dev/null
echo "mimir            $line" | tee -a "$RESULTS"
# cut everything, then measure what is stored
psql -XAtq -h "$PGDIR" -p "$PORT" -U postgres -c "SET mimir.chunk_max_samples = 240" \
    -c "SELECT sum(mimir.cut_head(1000)) FROM generate_series(1, 100)" >/dev/null
psql -XAtq -h "$PGDIR" -p "$PORT" -U postgres >"$OUT/mimir.size" <<'SQL'
SELECT (SELECT sum(mimir.chunk_count(chunk)) FROM mimir.chunks)::bigint,
       (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'mimir' AND c.relkind IN ('r', 'm'))::bigint,
       (SELECT sum(octet_length(chunk::bytea)) FROM mimir.chunks)::bigint;
SQL
cluster_stop "$PGDIR"
IFS='|' read -r NS TOTAL CHUNKB <"$OUT/mimir.size"
echo "mimir stored $NS samples: $(awk "BEGIN{printf \"%.3f\", $TOTAL/$NS}") bytes/sample on disk (tables+indexes), $(awk "BEGIN{printf \"%.3f\", $CHUNKB/$NS}") bytes/sample in chunk payloads; peak RSS $(( $(cat "$OUT/mimir.rss" 2>/dev/null || echo 0) / 1024 )) MiB" | tee -a "$RESULTS"

if [ "${BENCH_PEERS:-1}" = 1 ]; then
    VMP=$(free_port)
    mkdir -p "$OUT/vm"
    victoria-metrics -storageDataPath "$OUT/vm" -httpListenAddr "127.0.0.1:$VMP" -retentionPeriod 100y >"$OUT/vm.log" 2>&1 &
    VM=$!
    for i in $(seq 1 50); do curl -sf "http://127.0.0.1:$VMP/health" >/dev/null && break; sleep 0.2; done
    watch_rss "victoria-metrics" "$OUT/vm.rss" & W=$!
    line=$(run_load "http://127.0.0.1:$VMP/api/v1/write")
    kill $W 2>/dev/null
    echo "victoria-metrics $line" | tee -a "$RESULTS"
    curl -s "http://127.0.0.1:$VMP/internal/force_flush" >/dev/null; sleep 2
    kill $VM; wait $VM 2>/dev/null
    echo "victoria-metrics data: $(du -sb "$OUT/vm/data" | cut -f1) bytes; peak RSS $(( $(cat "$OUT/vm.rss" 2>/dev/null || echo 0) / 1024 )) MiB" | tee -a "$RESULTS"

    PP=$(free_port)
    printf 'global:\n  scrape_interval: 1h\n' >"$OUT/prom.yml"
    prometheus --config.file="$OUT/prom.yml" --storage.tsdb.path="$OUT/prom" --web.listen-address="127.0.0.1:$PP" \
        --web.enable-remote-write-receiver --storage.tsdb.retention.time=100y >"$OUT/prom.log" 2>&1 &
    PR=$!
    for i in $(seq 1 50); do curl -sf "http://127.0.0.1:$PP/-/ready" >/dev/null && break; sleep 0.2; done
    watch_rss "prometheus --config" "$OUT/prom.rss" & W=$!
    line=$(run_load "http://127.0.0.1:$PP/api/v1/write")
    kill $W 2>/dev/null
    echo "prometheus       $line" | tee -a "$RESULTS"
    kill $PR; wait $PR 2>/dev/null
    echo "prometheus peak RSS $(( $(cat "$OUT/prom.rss" 2>/dev/null || echo 0) / 1024 )) MiB" | tee -a "$RESULTS"
fi
echo
test/bench_query.sh | tee -a "$RESULTS"
echo
echo "results in $RESULTS"
