#!/usr/bin/env bash
# Compile time of a program using s3db against a yardstick: the same compiler compiles a TU that
# only includes nlohmann/json, libcurl and OpenSSL (baseline.cpp) and a TU using every plugin on
# Database<> (all_plugins.cpp), alternately, ROUNDS times at -O2 and at -O0, and prints the median
# seconds and the ratio, in two modes:
#   header-only   the default: the TU compiles all of s3db it uses;
#   compiled      S3DB_SEPARATE_COMPILATION: the TU only declares s3db's non-template code, which
#                 one other TU compiles (implementation.cpp; its time is printed once, not in the ratio).
# CXX picks the compiler (g++ by default); ROUNDS (3) the repetitions. Prints figures, asserts nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
cxx=${CXX:-g++}
rounds=${ROUNDS:-3}
modes=${MODES:-"header-only compiled"}
flags=(-std=c++20 -I"$root/include" $(pkg-config --cflags libcurl openssl 2>/dev/null || true))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

seconds() {  # compile one TU, print its wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$cxx" "${flags[@]}" "$@" -c -o "$out/tu.o"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "compiler: $("$cxx" --version | head -1); $(nproc) cores; rounds: $rounds"
for mode in $modes; do
    mode_flags=()
    [[ $mode == compiled ]] && mode_flags=(-DS3DB_SEPARATE_COMPILATION)
    for opt in -O2 -O0; do
        base=() all=()
        for ((i = 0; i < rounds; i++)); do
            base+=("$(seconds "$opt" "$here/baseline.cpp")")
            all+=("$(seconds "$opt" "${mode_flags[@]}" "$here/all_plugins.cpp")")
        done
        b=$(median "${base[@]}") a=$(median "${all[@]}")
        printf '%-12s %-4s baseline %6.2f s   all plugins %6.2f s   ratio %5.2fx\n' \
            "$mode" "$opt" "$b" "$a" "$(echo "$a / $b" | bc -l)"
    done
    if [[ $mode == compiled ]]; then
        printf '%-12s -O2  implementation.cpp (once per program) %6.2f s\n' "$mode" \
            "$(seconds -O2 -DS3DB_SEPARATE_COMPILATION "$here/implementation.cpp")"
    fi
done
