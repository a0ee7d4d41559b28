#!/usr/bin/env bash
# Starts or stops the S3 server the tests run against: a one-node Ceph cluster on 127.0.0.1 (one
# monitor, one OSD keeping its data in RAM, and radosgw), with the S3 user testkey / testsecret.
#
#   cmake/test-servers.sh start   # returns once a signed S3 request succeeds (at most 120 s)
#   cmake/test-servers.sh stop    # stops the daemons by their pid files and waits until they exit
#
# Environment: RGW_DIR (default /tmp/s3db-rgw) holds config, pid files and logs and is wiped on start;
# RGW_PORT (default 7480) is the S3 port; MON_PORT (default 6789) the monitor's.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/s3db-rgw}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-6789}
START_TIMEOUT=120
STOP_TIMEOUT=30

D=$RGW_DIR
C=(-c "$D/ceph.conf")

say() { echo "test-servers: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# RGW_DIR is wiped on start, so refuse anything that does not look like a directory of ours.
case $D in
    /?*) ;;
    *) die "RGW_DIR must be an absolute path, got '$D'" ;;
esac
if [[ -d $D && -n $(ls -A "$D") && ! -f $D/ceph.conf ]]; then
    die "RGW_DIR=$D exists and was not made by this script; choose another directory"
fi
[[ $RGW_PORT =~ ^[0-9]+$ && $MON_PORT =~ ^[0-9]+$ ]] || die "RGW_PORT and MON_PORT must be numbers"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A pid counts as ours only while its process runs with our ceph.conf: a stale pid file never makes
# us signal an unrelated process, and a daemon that has exited (even as a zombie) counts as gone.
is_ours() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$D/ceph.conf"; }

# Stops one daemon by its pid file and waits until it has exited (SIGKILL after STOP_TIMEOUT).
stop_daemon() {
    local name=$1 pid waited=0
    [[ -f $D/run/$name.pid ]] || return 0
    pid=$(<"$D/run/$name.pid")
    [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" || return 0
    kill "$pid" 2>/dev/null || true
    while is_ours "$pid"; do
        if ((waited >= STOP_TIMEOUT * 5)); then
            say "$name (pid $pid) still running after ${STOP_TIMEOUT}s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
    stopped+=" $name"
}

# Gateway first, monitor last: each daemon shuts down cleanly only while the ones below it still
# answer (radosgw waits on RADOS, the OSD reports its shutdown to the monitor).
stop() {
    local stopped=""
    stop_daemon client.rgw.test
    stop_daemon osd.0
    stop_daemon mon.a
    if [[ -n $stopped ]]; then say "stopped$stopped ($D)"; else say "nothing running in $D"; fi
}

show_logs() {
    local f
    for f in "$D"/log/*.log; do
        [[ -f $f ]] || continue
        echo "----- tail of $f" >&2
        tail -n 25 "$f" >&2
    done
}


# Seconds left before the start deadline (at least 1), for `timeout` around commands that can hang.
time_left() {
    local left=$((deadline - SECONDS))
    echo $((left > 1 ? left : 1))
}

# Builds and starts a fresh cluster. On failure it sets `why` and returns 1, leaving the logs in $D.
start_once() {
    rm -rf "$D"
    mkdir -p "$D"/{run,log,mon.a,osd.0}
    local fsid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
run dir = $D/run
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
keyring = $D/keyring
[mon]
mon data = $D/mon.\$id
[osd]
osd data = $D/osd.\$id
osd objectstore = memstore
memstore device bytes = 1073741824
# RADOS object names carry the bucket marker plus the S3 key: 256 refuses keys past ~210 bytes,
# and S3 allows 1024.
osd max object name len = 2048
osd max object namespace len = 64
[client.rgw.test]
# Without tcp_nodelay, beast's header and body writes meet the client's delayed ACK: 40 ms per GET.
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
CONF
    touch "$D/keyring"
    local out=$D/log/start.log # what the tools print; shown with the daemons' logs on failure

    say "starting Ceph mon (127.0.0.1:$MON_PORT), memstore OSD and radosgw (127.0.0.1:$RGW_PORT) in $D"
    # The address is given as v1 explicitly: monmaptool assumes msgr2 for any port but 6789, and
    # msgr2 is off (ms bind msgr2 = false).
    monmaptool --create --addv a "[v1:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$D/monmap" >>"$out" 2>&1 ||
        { why="monmaptool failed"; return 1; }
    ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" >>"$out" 2>&1 || { why="ceph-mon --mkfs failed"; return 1; }
    ceph-mon "${C[@]}" -i a >>"$out" 2>&1 || { why="ceph-mon failed"; return 1; }
    # Everything from here talks to the monitor and would wait for it for minutes: bound each step.
    timeout "$(time_left)" ceph-osd "${C[@]}" -i 0 --mkfs >>"$out" 2>&1 ||
        { why="ceph-osd --mkfs failed or timed out"; return 1; }
    # memstore picks its own OSD uuid at mkfs; register the OSD under it.
    timeout "$(time_left)" ceph "${C[@]}" osd new "$(cat "$D/osd.0/fsid")" 0 >>"$out" 2>&1 ||
        { why="'ceph osd new' failed or timed out"; return 1; }
    # A new OSD may ask the monitor something before it has the monitor's map; the monitor then
    # answers "wrong fsid" and the OSD exits during init, before it holds any data. Start it again.
    local try
    for try in 1 2 3 4 5; do
        timeout "$(time_left)" ceph-osd "${C[@]}" -i 0 >>"$out" 2>&1 && break
        ((try < 5 && SECONDS < deadline)) || { why="ceph-osd failed or timed out"; return 1; }
        say "ceph-osd exited during start (try $try), starting it again"
    done
    timeout "$(time_left)" radosgw "${C[@]}" -n client.rgw.test >>"$out" 2>&1 ||
        { why="radosgw failed or timed out"; return 1; }
    timeout "$(time_left)" radosgw-admin "${C[@]}" -n client.rgw.test --admin-socket="" user create \
        --uid=test --display-name=test --access-key=testkey --secret=testsecret >>"$out" 2>&1 ||
        { why="'radosgw-admin user create' failed or timed out"; return 1; }

    # Ready means a signed ListBuckets is accepted: the gateway is up and knows the user. (RGW wants
    # x-amz-content-sha256, which curl does not add by itself; this is the hash of an empty body.)
    local url="http://127.0.0.1:$RGW_PORT/"
    local empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    until curl -sf -o /dev/null --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" --user testkey:testsecret \
        -H "x-amz-content-sha256: $empty_sha256" "$url"; do
        ((SECONDS < deadline)) || { why="no signed S3 answer from $url within ${START_TIMEOUT}s"; return 1; }
        sleep 1
    done
    say "ready after ${SECONDS}s: $url (access key testkey, secret testsecret)"
}

start() {
    deadline=$((SECONDS + START_TIMEOUT))
    if [[ -d $D ]]; then stop; fi
    local hint="set RGW_PORT, MON_PORT and RGW_DIR to run a second server"
    if port_in_use "$RGW_PORT"; then die "port $RGW_PORT is already in use ($hint)"; fi
    if port_in_use "$MON_PORT"; then die "port $MON_PORT is already in use ($hint)"; fi
    local tool
    for tool in monmaptool ceph-mon ceph-osd ceph radosgw radosgw-admin curl timeout; do
        command -v "$tool" >/dev/null || die "$tool not found: install ceph-mon ceph-osd radosgw curl (tests/run.sh does)"
    done

    local why=""
    if ! start_once; then
        say "could not start: $why"
        show_logs
        stop
        die "no S3 server on 127.0.0.1:$RGW_PORT (see the logs above, kept in $D/log)"
    fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
