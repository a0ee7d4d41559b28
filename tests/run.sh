#!/usr/bin/env bash
# Installs what is missing, builds everything, starts the S3 test server (Ceph RGW on 127.0.0.1),
# fauxqs for the SQS tests, a throwaway PostgreSQL cluster (the Replicator's PostgresTarget
# tests) and a throwaway RabbitMQ node (the QueueConsumer's RabbitMqQueue tests), runs every test
# with ctest, then a short run of each fuzz target. The servers are stopped on exit, also when a
# test fails.
#
# RGW_PORT, MON_PORT and RGW_DIR place the server; by default it takes the first free ports from
# 7480 (S3) and 6789 (monitor) and the directory /tmp/s3db-rgw-<S3 port>. PG_PORT and PG_DIR place
# PostgreSQL the same way (first free port from 5433, /tmp/s3db-pg-<port>), RMQ_PORT and RMQ_DIR
# RabbitMQ (first free port from 5672, /tmp/s3db-rmq-<port>).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(cmake g++ ninja-build pkgconf curl
    libcurl4-openssl-dev libssl-dev nlohmann-json3-dev zlib1g-dev
    libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
    clang libclang-rt-14-dev
    ceph-mon ceph-osd radosgw
    libpq-dev postgresql
    librabbitmq-dev rabbitmq-server)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    if ((EUID != 0)); then sudo=(sudo); fi
    echo "run.sh: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
# --- s3db.js for the interop tests (tests/interop) and fauxqs for the SQS tests (tests/sqs): node
# from apt only when there is none (the image may carry its own node), then the locked npm
# packages, reinstalled when a lock changes.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_sudo=()
    if ((EUID != 0)); then apt_sudo=(sudo); fi
    if command -v node >/dev/null; then
        echo "run.sh: node is installed but npm is not; install the npm that goes with $(command -v node)" >&2
        exit 1
    fi
    echo "run.sh: installing nodejs npm"
    "${apt_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${apt_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
cmake/install-interop.sh
# --- end of s3db.js

# -O1: the optimiser on (so code that relies on undefined behaviour shows it) at 24 % less compile time
# than -O2 (test_plugin_storage.cpp: 17.0 s against 22.4 s of CPU); building the tests is most of
# this script's time. bench/run.sh builds what it measures at -O2.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DS3DB_BENCH_COMPILED=ON
cmake --build build -j2
# The fuzz targets (tests/fuzz) need clang's libFuzzer: a build of their own, nothing else in it.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DS3DB_FUZZ=ON -DS3DB_BUILD_TESTS=OFF -DS3DB_BUILD_BENCH=OFF -DS3DB_BUILD_EXAMPLES=OFF -DS3DB_INSTALL=OFF
cmake --build build-fuzz -j2

# Another server (a developer's own, another checkout's run) may hold the default ports: unless the
# ports are given, take the first free ones from 7480 and 6789, with a directory named for them.
free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}
export RGW_PORT=${RGW_PORT:-$(free_port 7480)}
export MON_PORT=${MON_PORT:-$(free_port 6789)}
export RGW_DIR=${RGW_DIR:-/tmp/s3db-rgw-$RGW_PORT}
export FAUXQS_PORT=${FAUXQS_PORT:-$(free_port 4566)}  # the SQS server (tests/sqs/fauxqs.sh)
export PG_PORT=${PG_PORT:-$(free_port 5433)}
export PG_DIR=${PG_DIR:-/tmp/s3db-pg-$PG_PORT}
export RMQ_PORT=${RMQ_PORT:-$(free_port 5672)}  # RabbitMQ (cmake/rabbitmq-server.sh)
export RMQ_DIR=${RMQ_DIR:-/tmp/s3db-rmq-$RMQ_PORT}
# ctest starts the servers before the first test that needs them and stops them after the last (the
# fixtures in tests/CMakeLists.txt); the trap stops them too when ctest itself is interrupted.
trap 'cmake/test-servers.sh stop; tests/sqs/fauxqs.sh stop; cmake/postgres-server.sh stop; cmake/rabbitmq-server.sh stop' EXIT
export S3DB_TEST_S3_URL="http://testkey:testsecret@127.0.0.1:$RGW_PORT/s3db-test"

status=0
# One test more than cores: many tests wait on a server, a sleep or their child processes, and at
# -j2 the two cores were 60 % busy. Tests that keep two cores busy say so (PROCESSORS 2).
ctest --test-dir build --output-on-failure -j$(($(nproc) + 1)) --timeout 600 || status=$?
# Each fuzz target for S3DB_FUZZ_SECONDS (30 s), two at once; a crash fails the run and leaves its
# input in build-fuzz/tests/fuzz/artifacts/<target>/.
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j2 || status=$?
exit "$status"
