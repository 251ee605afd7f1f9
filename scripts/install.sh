#!/usr/bin/env bash
# Builds pouch in release mode, installs pouchd, pouch and pouch-shim into /usr/local/bin and
# starts pouchd with its built-in defaults (root /var/lib/pouch, socket /var/run/pouchd.sock).
# Run as root on Debian. Safe to run again: it restarts the daemon it started before.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cargo build --release --bins
install -m 0755 target/release/pouchd target/release/pouch target/release/pouch-shim /usr/local/bin/

pidfile=/run/pouch/pouchd.pid
if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  old=$(cat "$pidfile")
  echo "stopping the running pouchd (pid $old)"
  kill -TERM "$old"
  while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
fi
mkdir -p /var/log
setsid /usr/local/bin/pouchd >>/var/log/pouchd.log 2>&1 < /dev/null &
for _ in $(seq 1 100); do
  if /usr/local/bin/pouch version >/dev/null 2>&1; then
    echo "pouchd is running (log: /var/log/pouchd.log); try: pouch info"
    exit 0
  fi
  sleep 0.1
done
echo "pouchd did not come up; see /var/log/pouchd.log" >&2
tail -n 20 /var/log/pouchd.log >&2
exit 1
