#!/usr/bin/env bash
# Starts or stops the throwaway PostgreSQL cluster the PostgresTarget tests replicate into: a fresh
# initdb on 127.0.0.1 with trust authentication (user postgres, database postgres), fsync off.
#
#   cmake/postgres-server.sh start   # returns once the server accepts connections
#   cmake/postgres-server.sh stop    # fast shutdown, waits until it has exited, removes PG_DIR
#
# Environment: PG_PORT (default 5433); PG_DIR (default /tmp/s3db-pg-<port>), wiped on start;
# PG_BIN (default: the newest /usr/lib/postgresql/*/bin). The server refuses to run as root, so as
# root it runs as the `postgres` user. The tests reach it at
# postgresql://postgres@127.0.0.1:<PG_PORT>/postgres (S3DB_TEST_PG_URL overrides that).
set -euo pipefail

PG_PORT=${PG_PORT:-5433}
PG_DIR=${PG_DIR:-/tmp/s3db-pg-$PG_PORT}
D=$PG_DIR

say() { echo "postgres-server: $*" >&2; }
die() {
    say "$*"
    exit 1
}

case $D in
    /?*) ;;
    *) die "PG_DIR must be an absolute path, got '$D'" ;;
esac
[[ $PG_PORT =~ ^[0-9]+$ ]] || die "PG_PORT must be a number"
# PG_DIR is wiped on start: refuse a directory this script did not make.
if [[ -d $D && -n $(ls -A "$D") && ! -f $D/.s3db-pg ]]; then
    die "PG_DIR=$D exists and was not made by this script; choose another directory"
fi

if [[ -z ${PG_BIN:-} ]]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
[[ -n $PG_BIN && -x $PG_BIN/pg_ctl ]] || die "no PostgreSQL server found (install postgresql; tests/run.sh does)"

# As root, run the server tools as `postgres` (it refuses root); otherwise as ourselves.
as_owner() {
    if ((EUID == 0)); then
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    else
        "$@"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
    if [[ -f $D/data/postmaster.pid ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$D/data" -m fast -w -t 30 stop >/dev/null || say "pg_ctl stop failed"
        say "stopped ($D)"
    else
        say "nothing running in $D"
    fi
    rm -rf "$D"
}

start() {
    if [[ -d $D ]]; then stop; fi
    port_in_use "$PG_PORT" && die "port $PG_PORT is already in use (set PG_PORT and PG_DIR to run a second server)"
    mkdir -p "$D"
    touch "$D/.s3db-pg"
    if ((EUID == 0)); then chown postgres: "$D"; fi
    as_owner "$PG_BIN/initdb" -D "$D/data" -U postgres --auth=trust -E UTF8 --no-sync >"$D/initdb.log" 2>&1 ||
        { cat "$D/initdb.log" >&2; die "initdb failed"; }
    if ! as_owner "$PG_BIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $D -c fsync=off -c max_connections=200" start >/dev/null; then
        tail -n 25 "$D/server.log" >&2 || true
        die "the server did not start on 127.0.0.1:$PG_PORT"
    fi
    say "ready: postgresql://postgres@127.0.0.1:$PG_PORT/postgres ($D)"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
