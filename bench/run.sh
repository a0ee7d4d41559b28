#!/usr/bin/env bash
# Builds the benchmarks, starts Ceph RGW on 127.0.0.1 (as tests/run.sh does) and runs them.
# Extra arguments go to every benchmark (e.g. --quick). Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2

export RGW_DIR=${RGW_DIR:-/tmp/s3db-rgw-bench} RGW_PORT=${RGW_PORT:-7490} MON_PORT=${MON_PORT:-6799}
trap 'cmake/test-servers.sh stop' EXIT
cmake/test-servers.sh start
export S3DB_TEST_S3_URL="http://testkey:testsecret@127.0.0.1:$RGW_PORT/s3db-bench"

for bench in build/bench/*; do
    [[ -x $bench && -f $bench ]] || continue
    echo "== $bench"
    "$bench" "$@"
done
