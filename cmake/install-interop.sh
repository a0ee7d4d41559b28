#!/usr/bin/env bash
# Installs the locked npm packages of tests/interop (s3db.js 21.6.2 and its pinned dependencies)
# and of tests/sqs (fauxqs 1.9.2, the SQS server of the SqsServer tests), each when its
# package.json or package-lock.json changed since its last install. Used by tests/run.sh and
# bench/run.sh, which share the one install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for dir in tests/interop tests/sqs; do
    stamp=$dir/node_modules/.s3db-lock.sha256
    lock=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
    if [[ ! -f $stamp || $(<"$stamp") != "$lock" ]]; then
        echo "install-interop: npm ci --prefix $dir"
        npm ci --prefix "$dir" --no-audit --no-fund
        echo "$lock" >"$stamp"
    fi
done
