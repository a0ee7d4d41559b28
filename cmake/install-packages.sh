#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (apt-get update runs
# only when something is missing). Used by tests/run.sh and examples/run.sh.
set -euo pipefail
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
sudo=()
if ((EUID != 0)); then sudo=(sudo); fi
echo "install-packages: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
