#!/usr/bin/env bash
# Starts or stops the throwaway RabbitMQ node the QueueConsumer's RabbitMQ tests consume from: a
# fresh node on 127.0.0.1 only (AMQP on RMQ_PORT, Erlang distribution on RMQ_PORT+20000, epmd on
# 127.0.0.1), user guest/guest (allowed from loopback), no plugins.
#
#   cmake/rabbitmq-server.sh start   # returns once the node answers (at most 120 s)
#   cmake/rabbitmq-server.sh stop    # stops it, waits until it has exited, removes RMQ_DIR
#
# Environment: RMQ_PORT (default 5672); RMQ_DIR (default /tmp/s3db-rmq-<port>), wiped on start.
# The tests reach it at amqp://guest:guest@127.0.0.1:<RMQ_PORT> (S3DB_TEST_AMQP_URL overrides).
set -euo pipefail

RMQ_PORT=${RMQ_PORT:-5672}
D=${RMQ_DIR:-/tmp/s3db-rmq-$RMQ_PORT}
BIN=/usr/lib/rabbitmq/bin

say() { echo "rabbitmq-server: $*" >&2; }
die() {
    say "$*"
    exit 1
}
case $D in
    /?*) ;;
    *) die "RMQ_DIR must be an absolute path, got '$D'" ;;
esac
[[ $RMQ_PORT =~ ^[0-9]+$ ]] || die "RMQ_PORT must be a number"
if [[ -d $D && -n $(ls -A "$D") && ! -f $D/.s3db-rmq ]]; then
    die "RMQ_DIR=$D exists and was not made by this script; choose another directory"
fi
[[ -x $BIN/rabbitmq-server ]] || die "rabbitmq-server is not installed (tests/run.sh installs it)"

# Everything the node needs, in RMQ_DIR: its name, ports and files; nothing of the system's node.
export HOME=$D RABBITMQ_NODENAME=s3db$RMQ_PORT@localhost RABBITMQ_CONFIG_FILE=$D/rabbitmq.conf \
    RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log \
    RABBITMQ_PID_FILE=$D/rabbit.pid ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$((RMQ_PORT + 20000)) \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
    if [[ -f $D/rabbit.pid ]]; then
        "$BIN/rabbitmqctl" stop "$D/rabbit.pid" >/dev/null 2>&1 || say "rabbitmqctl stop failed"
        # The node started Erlang's port mapper; it goes too unless another node still uses it.
        if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then epmd -kill >/dev/null 2>&1 || true; fi
        say "stopped ($D)"
    else
        say "nothing running in $D"
    fi
    rm -rf "$D"
}

start() {
    if [[ -d $D ]]; then stop; fi
    port_in_use "$RMQ_PORT" && die "port $RMQ_PORT is already in use (set RMQ_PORT and RMQ_DIR to run a second node)"
    mkdir -p "$D/mnesia" "$D/log"
    touch "$D/.s3db-rmq"
    printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users.guest = true\n' "$RMQ_PORT" >"$D/rabbitmq.conf"
    echo '[].' >"$D/enabled_plugins"
    "$BIN/rabbitmq-server" -detached >"$D/start.log" 2>&1
    if ! "$BIN/rabbitmqctl" wait --timeout 120 "$D/rabbit.pid" >"$D/wait.log" 2>&1; then
        cat "$D/wait.log" >&2
        tail -n 25 "$D"/log/*.log >&2 || true
        die "the node did not start on 127.0.0.1:$RMQ_PORT"
    fi
    say "ready: amqp://guest:guest@127.0.0.1:$RMQ_PORT ($D)"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
