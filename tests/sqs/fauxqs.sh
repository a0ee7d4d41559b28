#!/usr/bin/env bash
# Starts or stops the SQS server the SqsServer tests run against: fauxqs (tests/sqs/package.json,
# installed by cmake/install-interop.sh) on 127.0.0.1 only, through fauxqs-loopback.mjs.
#
#   tests/sqs/fauxqs.sh start   # returns once GET /health answers (at most 30 s)
#   tests/sqs/fauxqs.sh stop    # stops it by its pid file and waits until it has exited
#
# Environment: FAUXQS_PORT (default 4566); FAUXQS_DIR (default /tmp/s3db-fauxqs-<port>) holds the
# pid file and the log.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${FAUXQS_PORT:-4566}
D=${FAUXQS_DIR:-/tmp/s3db-fauxqs-$PORT}
START_TIMEOUT=30
STOP_TIMEOUT=10

say() { echo "fauxqs: $*" >&2; }
die() {
    say "$*"
    exit 1
}
[[ $PORT =~ ^[0-9]+$ ]] || die "FAUXQS_PORT must be a number"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A pid counts as ours only while it runs our wrapper: a stale pid file never signals another process.
is_ours() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$here/fauxqs-loopback.mjs"; }

stop() {
    local pid waited=0
    [[ -f $D/pid ]] || { say "nothing running ($D)"; return 0; }
    pid=$(<"$D/pid")
    rm -f "$D/pid"
    [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" || { say "nothing running ($D)"; return 0; }
    kill "$pid" 2>/dev/null || true
    while is_ours "$pid"; do
        if ((waited >= STOP_TIMEOUT * 5)); then
            say "pid $pid still running after ${STOP_TIMEOUT}s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
    say "stopped (pid $pid)"
}

start() {
    stop >/dev/null 2>&1 || true
    port_in_use "$PORT" && die "port $PORT is already in use (set FAUXQS_PORT to run another server)"
    command -v node >/dev/null || die "node not found (tests/run.sh installs it)"
    [[ -d $here/node_modules/fauxqs ]] || die "fauxqs is not installed: run cmake/install-interop.sh"
    mkdir -p "$D"
    # Its own output goes to the log, not to the caller's pipes: ctest would wait for them to close.
    FAUXQS_PORT=$PORT nohup node "$here/fauxqs-loopback.mjs" >"$D/log" 2>&1 </dev/null &
    echo $! >"$D/pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/health"; do
        if ! is_ours "$(<"$D/pid")" || ((SECONDS >= deadline)); then
            tail -n 25 "$D/log" >&2 || true
            stop
            die "no answer from http://127.0.0.1:$PORT/health (log: $D/log)"
        fi
        sleep 0.2
    done
    say "ready: http://127.0.0.1:$PORT (pid $(<"$D/pid"))"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
