#!/usr/bin/env bash
# Installs the locked npm packages of tests/interop (s3db.js 21.6.2 and its pinned dependencies)
# when package.json or package-lock.json changed since the last install. Used by tests/run.sh
# and bench/run.sh, which share the one install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=tests/interop/node_modules/.s3db-lock.sha256
lock=$(cat tests/interop/package.json tests/interop/package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(<"$stamp") != "$lock" ]]; then
    echo "install-interop: npm ci --prefix tests/interop"
    npm ci --prefix tests/interop --no-audit --no-fund
    echo "$lock" >"$stamp"
fi
