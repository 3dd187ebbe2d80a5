#!/bin/bash
# `make bench`: codec speed and size (test/codec), then remote-write
# ingestion of the standard rwload run against mimir, VictoriaMetrics and
# Prometheus in one run (this machine is noisy: compare ratios from the same
# run), then mimir alone at 10k, 100k and 1M series for bytes/sample and
# memory.
#
# Env: BENCH_SERIES (100000), BENCH_STEPS (240), BENCH_CONNS (4),
#      BENCH_ROUNDS (1: how many times the three-way comparison runs),
#      BENCH_PEERS (1: include VictoriaMetrics and Prometheus),
#      BENCH_SCALES ("10000:2400 100000:240 1000000:24", series:steps; "" skips),
#      BENCH_SHARED_BUFFERS (128MB, PostgreSQL's default).
#
# mimir's size is everything it stores once the head is cut into chunks
# and settled chunks are packed (mimir.pack_chunks, as the compactor's job):
# chunks, head, series/label index (series rows and series blocks) and the
# other tables of schema mimir,
# indexes and TOAST included, WAL excluded (after VACUUM, as autovacuum would).
# Memory is sampled every 0.5 s over all processes of the server: the sum of
# RSS (counts shared memory once per process that touched it) and the sum of
# PSS (shared pages split between processes: the real total).
cd "$(dirname "$0")/.."
ROOT=$PWD
. test/pgcluster.sh
SERIES=${BENCH_SERIES:-100000}
STEPS=${BENCH_STEPS:-240}
CONNS=${BENCH_CONNS:-4}
ROUNDS=${BENCH_ROUNDS:-1}
SCALES=${BENCH_SCALES-"10000:2400 100000:240 1000000:24"}
SB=${BENCH_SHARED_BUFFERS:-128MB}
RWLOAD_SRC=$ROOT/../shared/bench/rwload.c
OUT=$ROOT/.bench
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

if [ -f test/codec/Makefile ] && grep -q '^bench:' test/codec/Makefile; then
    echo "== codec (one core) =="
    make -s -C test/codec bench || exit 1
    echo
fi

[ -f "$RWLOAD_SRC" ] || { echo "no $RWLOAD_SRC: skipping ingestion benchmark"; exit 0; }
if [ "$(id -u)" = 0 ]; then
    for p in victoria-metrics prometheus; do
        command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $p >/dev/null
    done
fi
cc -O2 -o "$OUT/rwload" "$RWLOAD_SRC" -lsnappy -lpthread || exit 1
make -s >/dev/null && make -s install >/dev/null || exit 1

# process tree memory of PIDs in file $1 (re-read each time), peak kB into $2 (rss pss)
watch_mem() {
    local pidfile=$1 out=$2 prss=0 ppss=0
    while sleep 0.5; do
        local pids rss=0 pss=0
        pids=$(cat "$pidfile" 2>/dev/null) || continue
        for p in $pids $(for q in $pids; do pgrep -P "$q"; done); do
            [ -r /proc/$p/smaps_rollup ] || continue
            read -r r s < <(awk '/^Rss:/ {r=$2} /^Pss:/ {s=$2} END {print r+0, s+0}' /proc/$p/smaps_rollup)
            rss=$((rss + r)); pss=$((pss + s))
        done
        [ $rss -gt $prss ] && prss=$rss
        [ $pss -gt $ppss ] && ppss=$pss
        echo "$prss $ppss" >"$out"
    done
}
mib() { awk "BEGIN {printf \"%.0f\", $1 / 1024}"; }

run_load() {   # url series steps -> rwload's summary line
    "$OUT/rwload" -u "$1" -s "$2" -t "$3" -c "$CONNS" 2>&1 | tail -1
}
rate() { sed -n 's/.*samples_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }

# mimir_run SERIES STEPS TAG: ingest, cut, measure; prints one result line
mimir_run() {
    local s=$1 t=$2 tag=$3 dir=$OUT/pg-$3 port http line
    port=$(free_port); http=$(free_port)
    cluster_init "$dir" "$port" "mimir.http_port = $http" "shared_buffers = '$SB'" \
        "max_wal_size = '16GB'" "checkpoint_timeout = '30min'" "log_min_messages = warning" >/dev/null || return 1
    cluster_start "$dir" || return 1
    local P="as_pg $PGBIN/psql -XAtq -h $dir -p $port -U postgres"
    $P -c "CREATE EXTENSION mimir" >/dev/null
    for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$http/ready" >/dev/null && break; sleep 0.2; done
    head -1 "$dir/data/postmaster.pid" >"$OUT/$tag.pids"
    watch_mem "$OUT/$tag.pids" "$OUT/$tag.mem" & local W=$!
    line=$(run_load "http://127.0.0.1:$http/api/v1/push" "$s" "$t")
    kill $W 2>/dev/null; wait $W 2>/dev/null
    read -r RSS PSS <"$OUT/$tag.mem"
    # cut everything into chunks, as the background cutter eventually does
    watch_mem "$OUT/$tag.pids" "$OUT/$tag.cutmem" & W=$!
    local t0 t1
    t0=$(date +%s.%N)
    # (cut_head answers 0 when the background cutter holds the lock: loop on the head itself)
    while [ "$($P -c "SELECT mimir.cut_head(1000000)")" != 0 ] || [ "$($P -c "SELECT count(*) FROM mimir.head")" != 0 ]; do :; done
    # then what the compactor's scheduled job does: settled chunks into packs,
    # series rows into series blocks
    # (its next run, after autovacuum, rebuilds the emptied plain chunk index)
    $P -c "SELECT mimir.pack_chunks()" >/dev/null
    $P -c "VACUUM" >/dev/null
    $P -c "SELECT mimir.pack_chunks()" >/dev/null
    t1=$(date +%s.%N)
    kill $W 2>/dev/null; wait $W 2>/dev/null
    $P -c "VACUUM" >/dev/null
    # chunks: plain rows and packed ones (mimir.chunk_pack_entries)
    read -r NS TOTAL CHUNKB SER CHROWS < <($P -F ' ' -c "
        SELECT (SELECT coalesce(sum(mimir.chunk_count(chunk)), 0) FROM mimir.chunks)::bigint
                 + (SELECT coalesce(sum(mimir.chunk_count(chunk)), 0) FROM mimir.chunk_pack_entries())::bigint,
               (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'mimir' AND c.relkind = 'r')::bigint,
               (SELECT coalesce(sum(octet_length(chunk::bytea)), 0) FROM mimir.chunks)::bigint
                 + (SELECT coalesce(sum(octet_length(chunk::bytea)), 0) FROM mimir.chunk_pack_entries())::bigint,
               (SELECT pg_total_relation_size('mimir.series') + pg_total_relation_size('mimir.label_pairs')
                 + pg_total_relation_size('mimir.series_blocks'))::bigint,
               (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                 WHERE i.inhparent IN ('mimir.chunks'::regclass, 'mimir.chunk_packs'::regclass))::bigint")
    read -r CRSS CPSS <"$OUT/$tag.cutmem"
    cluster_stop "$dir"
    printf "mimir %-9s %8s samples/s  %s B/sample total (chunk payload %s, chunk rows/packs %s, series index %s)  peak memory while ingesting: PSS %s MiB (RSS sum %s); cut %ss, PSS %s MiB  [%s]\n" \
        "$tag" "$(rate "$line")" "$(awk "BEGIN{printf \"%.3f\", $TOTAL/$NS}")" "$(awk "BEGIN{printf \"%.3f\", $CHUNKB/$NS}")" \
        "$(awk "BEGIN{printf \"%.3f\", ($CHROWS - $CHUNKB)/$NS}")" \
        "$(awk "BEGIN{printf \"%.3f\", $SER/$NS}")" "$(mib $PSS)" "$(mib $RSS)" "$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")" \
        "$(mib $CPSS)" "$line"
    rm -rf "$dir"
}

vm_run() {
    local port dir=$OUT/vm line
    port=$(free_port); rm -rf "$dir"; mkdir -p "$dir"
    victoria-metrics -storageDataPath "$dir" -httpListenAddr "127.0.0.1:$port" -retentionPeriod 100y >"$OUT/vm.log" 2>&1 &
    local VM=$!
    echo $VM >"$OUT/vm.pids"
    for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    watch_mem "$OUT/vm.pids" "$OUT/vm.mem" & local W=$!
    line=$(run_load "http://127.0.0.1:$port/api/v1/write" "$SERIES" "$STEPS")
    kill $W 2>/dev/null; wait $W 2>/dev/null
    curl -s "http://127.0.0.1:$port/internal/force_flush" >/dev/null; sleep 3
    kill $VM; wait $VM 2>/dev/null
    read -r RSS PSS <"$OUT/vm.mem"
    local data idx
    data=$(du -sb "$dir/data" | cut -f1); idx=$(du -sb "$dir/indexdb" | cut -f1)
    printf "victoria-metrics %8s samples/s  %s B/sample data parts (%s with indexdb)  peak RSS %s MiB  [%s]\n" \
        "$(rate "$line")" "$(awk "BEGIN{printf \"%.3f\", $data/($SERIES*$STEPS)}")" \
        "$(awk "BEGIN{printf \"%.3f\", ($data+$idx)/($SERIES*$STEPS)}")" "$(mib $RSS)" "$line"
}

prom_run() {
    local port dir=$OUT/prom line
    port=$(free_port); rm -rf "$dir"; mkdir -p "$dir"
    printf 'global:\n  scrape_interval: 1h\n' >"$dir.yml"
    prometheus --config.file="$dir.yml" --storage.tsdb.path="$dir" --web.listen-address="127.0.0.1:$port" \
        --web.enable-remote-write-receiver --storage.tsdb.retention.time=100y --log.level=warn >"$OUT/prom.log" 2>&1 &
    local PR=$!
    echo $PR >"$OUT/prom.pids"
    for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done
    watch_mem "$OUT/prom.pids" "$OUT/prom.mem" & local W=$!
    line=$(run_load "http://127.0.0.1:$port/api/v1/write" "$SERIES" "$STEPS")
    kill $W 2>/dev/null; wait $W 2>/dev/null
    kill $PR; wait $PR 2>/dev/null
    read -r RSS PSS <"$OUT/prom.mem"
    printf "prometheus       %8s samples/s  peak RSS %s MiB  [%s]\n" "$(rate "$line")" "$(mib $RSS)" "$line"
}

echo "== remote write: rwload -s $SERIES -t $STEPS -c $CONNS (same run, compare the ratios) =="
for r in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" -gt 1 ] && echo "-- round $r" | tee -a "$RESULTS"
    mimir_run "$SERIES" "$STEPS" "std" | tee -a "$RESULTS"
    if [ "${BENCH_PEERS:-1}" = 1 ]; then
        vm_run | tee -a "$RESULTS"
        prom_run | tee -a "$RESULTS"
    fi
done

if [ -n "$SCALES" ]; then
    echo
    echo "== mimir at several series counts (bytes/sample and memory) =="
    for sc in $SCALES; do
        mimir_run "${sc%%:*}" "${sc##*:}" "${sc%%:*}" | tee -a "$RESULTS"
    done
fi
echo
test/bench_query.sh | tee -a "$RESULTS"
echo
echo "results in $RESULTS"
