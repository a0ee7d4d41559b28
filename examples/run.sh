#!/usr/bin/env bash
# Installs what is missing, builds the examples and runs the quickstart.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(cmake g++ ninja-build libcurl4-openssl-dev libssl-dev nlohmann-json3-dev librange-v3-dev)
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

cmake -S . -B build-examples -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DS3DB_BUILD_TESTS=OFF -DS3DB_BUILD_BENCH=OFF -DS3DB_BUILD_EXAMPLES=ON
cmake --build build-examples -j2

# Run from the build tree, so whatever the example writes stays out of the sources.
cd build-examples/examples
./quickstart
