#!/usr/bin/env bash
# Builds the benchmarks, starts Ceph RGW on 127.0.0.1 (as tests/run.sh does) and runs them: the
# transport bench first, then the database bench (s3db-cpp against s3db.js, which it runs in node
# from tests/interop/node_modules), then any other. Extra arguments go to every benchmark
# (e.g. --quick). Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# s3db.js for the database bench: the locked packages of tests/interop, reinstalled when the lock
# changes (the same stamp as tests/run.sh, so the two scripts share one install).
if command -v npm >/dev/null; then
    cmake/install-interop.sh
else
    echo "run.sh: no node/npm: the database bench runs without s3db.js (./tests/run.sh installs it)" >&2
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DS3DB_BENCH_COMPILED=OFF
cmake --build build -j2

export RGW_DIR=${RGW_DIR:-/tmp/s3db-rgw-bench} RGW_PORT=${RGW_PORT:-7490} MON_PORT=${MON_PORT:-6799}
trap 'cmake/test-servers.sh stop' EXIT
cmake/test-servers.sh start
export S3DB_TEST_S3_URL="http://testkey:testsecret@127.0.0.1:$RGW_PORT/s3db-bench"

benches=(build/bench/transport build/bench/database)
for bench in build/bench/*; do
    [[ $bench == build/bench/transport || $bench == build/bench/database ]] || benches+=("$bench")
done
for bench in "${benches[@]}"; do
    [[ -x $bench && -f $bench ]] || continue
    echo "== $bench"
    "$bench" "$@"
done

# The memory-store figures again with glibc's heap on transparent huge pages (s3db.js's node gets
# the same setting): one page fault per 2 MB instead of per 4 KB, which on a virtual machine is about
# half of what a list of fresh records costs. Printed next to the default run above, never instead of it.
echo "== build/bench/database, memory store, GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
S3DB_TEST_S3_URL= GLIBC_TUNABLES=glibc.malloc.hugetlb=1 build/bench/database "$@"
