#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the test suite and print the URL for it.
#
#   eval "$(bash .ci/postgres.sh)"          # exports CLOSEDLOOP_TEST_PG_URL
#   bash .ci/postgres.sh stop               # stops it and deletes its data
#
# Installs Debian's postgresql package when no server binaries are found, initializes a
# cluster in a temp dir (owned by the `postgres` user when run as root: the server refuses to
# run as root), listens on 127.0.0.1 only, trust auth (throwaway, local), fsync off (speed).
# Idempotent: a second run reuses the running cluster; a dead or stuck one is replaced. Logs go to stderr; stdout carries only
# the export line, so `eval` is safe.
# Settings: CLOSEDLOOP_PG_DIR (default /tmp/closedloop-pg), CLOSEDLOOP_PG_PORT (default 55432).
set -euo pipefail

PG_DIR="${CLOSEDLOOP_PG_DIR:-/tmp/closedloop-pg}"
PORT="${CLOSEDLOOP_PG_PORT:-55432}"
DB=closedloop_test
DATA="$PG_DIR/data"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    # Prefer Debian's versioned layout (highest version); fall back to whatever is on PATH.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
        return
    fi
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

BINDIR=$(find_bindir)
if [[ -z "$BINDIR" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        log "no PostgreSQL server binaries found and not root: install the postgresql package"
        exit 1
    fi
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    # The package's default cluster would only take memory and port 5432; we run our own.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/closedloop-ci.conf
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
    BINDIR=$(find_bindir)
    [[ -n "$BINDIR" ]] || { log "postgresql installed but initdb not found"; exit 1; }
fi
log "using server binaries in $BINDIR"

# Run a PostgreSQL tool as the cluster owner (postgres when we are root, else ourselves).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >&2 || true
    fi
    rm -rf "$PG_DIR"
    log "stopped and removed $PG_DIR"
    exit 0
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ours and answering: our data dir's lock file names the port, and the port accepts connections.
running_port() {
    [[ -f "$DATA/postmaster.pid" && -f "$PG_DIR/port" ]] || return 1
    local port
    port=$(cat "$PG_DIR/port")
    [[ "$(sed -n 4p "$DATA/postmaster.pid")" == "$port" ]] || return 1
    "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5 || return 1
    echo "$port"
}

if RUNNING=$(running_port); then
    PORT=$RUNNING
    log "reusing the cluster running in $DATA on port $PORT"
else
    if [[ -f "$DATA/postmaster.pid" ]]; then
        # Left over from a crash or a server that does not answer: the data is throwaway.
        log "discarding the unresponsive cluster in $DATA"
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m immediate -W stop >&2 2>&1 || true
        sleep 1
    fi
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
    chmod 700 "$PG_DIR"
    log "initializing a cluster in $DATA"
    as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    while port_in_use "$PORT"; do
        log "port $PORT is taken, trying $((PORT + 1))"
        PORT=$((PORT + 1))
    done
    echo "$PORT" >"$PG_DIR/port"
    log "starting on 127.0.0.1:$PORT"
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=200" \
        start >&2 || { tail -n 30 "$PG_DIR/server.log" >&2; exit 1; }
fi

PSQL=("$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U postgres -X -q -t -A)
if [[ "$(as_owner "${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
    as_owner "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >&2
    log "created database $DB"
fi

echo "export CLOSEDLOOP_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PORT/$DB"
