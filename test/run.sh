#!/bin/bash
# `make run` / `make stop`: a private PostgreSQL under ./.run with the
# extension built, installed and created. Reuses the cluster if it exists.
set -e
cd "$(dirname "$0")/.."
. test/pgcluster.sh
DIR=$PWD/.run
PORT=${MIMIR_PG_PORT:-55432}

case "$1" in
start)
    make -s >/dev/null
    make -s install >/dev/null
    # postgres must be able to reach the directory
    chmod o+x "$PWD" 2>/dev/null || true
    if [ ! -d "$DIR/data" ]; then
        cluster_init "$DIR" "$PORT"
    fi
    PORT=$(sed -n "s/^port = //p" "$DIR/data/postgresql.conf" | tail -1)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -m fast restart >/dev/null
    else
        cluster_start "$DIR"
    fi
    as_pg psql -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres \
        -c "CREATE EXTENSION IF NOT EXISTS mimir" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
    echo "mimir is running (PostgreSQL $(as_pg psql -XAtq -h "$DIR" -p "$PORT" -U postgres -c 'SHOW server_version'))"
    echo "  psql:  psql -h 127.0.0.1 -p $PORT -U postgres postgres"
    echo "  logs:  $DIR/postgres.log"
    echo "  stop:  make stop"
    ;;
stop)
    cluster_stop "$DIR"
    echo "stopped"
    ;;
esac
