#!/usr/bin/env bash
# Installs the Debian packages that building and testing pouch need, when they are missing.
# Usage: scripts/deps.sh [build|test]
set -euo pipefail
# libnftables1: pouchd loads it at run time for NAT and published ports on bridge networks.
want=(pkg-config gcc libseccomp-dev tini libnftables1)
if [[ ${1:-build} == test ]]; then
  want+=(busybox-static python3 runc crun docker-registry openssl lxcfs docker-compose)
  want+=(containernetworking-plugins)   # CNI networks
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Docker SDK for Python, a client the tests drive (from PyPI, for the python3 on PATH).
if [[ ${1:-build} == test ]] && ! python3 -c 'import docker' 2>/dev/null; then
  echo "installing: the Docker SDK for Python (pip)"
  python3 -m pip install --quiet docker \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-docker \
    || echo "warning: could not install the Docker SDK for Python; its tests will say they skip"
fi
