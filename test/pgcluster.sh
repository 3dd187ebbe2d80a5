# Shell helpers (sourced) for private PostgreSQL clusters owned by the
# postgres user, since PostgreSQL refuses to run as root.
PGBIN=$(${PG_CONFIG:-pg_config} --bindir)

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cluster_init DIR PORT [extra postgresql.conf lines...]
cluster_init() {
    local dir=$1 port=$2; shift 2
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'mimir,pg_cron'
cron.database_name = 'postgres'
max_worker_processes = 32
fsync = on
log_min_messages = warning
CONF
    for line in "$@"; do echo "$line" >>"$dir/data/postgresql.conf"; done
}

cluster_start() {
    local dir=$1
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/postgres.log"; return 1; }
}

cluster_stop() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    return 0
}
