#!/usr/bin/env bash
# Installs what is missing, builds and runs the quickstart, then builds the other examples
# (each is a program of its own: build/examples/<name>, run from build-examples/examples).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake/install-packages.sh cmake g++ ninja-build libcurl4-openssl-dev libssl-dev nlohmann-json3-dev

cmake -S . -B build-examples -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DS3DB_BUILD_TESTS=OFF -DS3DB_BUILD_BENCH=OFF -DS3DB_BUILD_EXAMPLES=ON
cmake --build build-examples -j2 --target example_quickstart

# Run from the build tree, so whatever the example writes stays out of the sources.
(cd build-examples/examples && ./quickstart)

cmake --build build-examples -j2
echo "run.sh: the other examples and the s3db command line (examples/cli) are built in build-examples/examples"
