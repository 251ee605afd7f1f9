#!/usr/bin/env bash
# bench/hardening.sh — the resource and hardening probes of tests/tests/{resources,hardening}.rs,
# run with the stock docker CLI against pouchd and, when it runs, against dockerd, side by side.
# Prints one markdown table on stdout (progress on stderr).
#
# Usage (as root): cargo build --release --bins && bench/hardening.sh
#   (shared/bench/setup-peers.sh installs and starts dockerd for the docker column)
# Env: BIN=target/release, DOCKER=/usr/bin/docker
set -uo pipefail
export LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/target/release}
DOCKER=${DOCKER:-/usr/bin/docker}
[[ -x $DOCKER ]] || DOCKER=$(command -v docker) || { echo "no docker CLI" >&2; exit 1; }
log() { printf '[hardening] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (containers need it)"
for b in pouchd pouch-shim; do [[ -x $BIN/$b ]] || die "$BIN/$b missing: cargo build --release --bins"; done

T=$(mktemp -d /var/tmp/pouch-hardening.XXXXXX)
SOCK=unix://$T/pouchd.sock
export DOCKER_CONFIG=$T/docker-config; mkdir -p "$DOCKER_CONFIG"; echo '{}' >"$DOCKER_CONFIG/config.json"
unset DOCKER_HOST DOCKER_CONTEXT
PD_PID=""; LOADED_D=0
HAVE_DOCKER=0; "$DOCKER" info >/dev/null 2>&1 && HAVE_DOCKER=1
cleanup() {
  set +e
  if ((HAVE_DOCKER)); then
    ids=$("$DOCKER" ps -aq --filter name=hp-); [[ -n $ids ]] && "$DOCKER" rm -f $ids >/dev/null
    ((LOADED_D)) && "$DOCKER" rmi busybox:latest >/dev/null
  fi
  if [[ -n $PD_PID ]] && kill -0 "$PD_PID" 2>/dev/null; then
    ids=$("$DOCKER" -H "$SOCK" ps -aq); [[ -n $ids ]] && "$DOCKER" -H "$SOCK" rm -f $ids >/dev/null
    kill -TERM "$PD_PID"; for _ in $(seq 50); do kill -0 "$PD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PD_PID" 2>/dev/null
  fi
  findmnt -rn -o TARGET | grep "^$T/" | sort -r | xargs -r -n1 umount -l
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$REPO/scripts/make-test-images.py" "$T/img" >/dev/null || die "make-test-images.py failed"
BB=$T/img/busybox-docker.tar
echo '{}' >"$T/config.json"
"$BIN/pouchd" --root "$T/root" --exec-root "$T/exec" -H "$SOCK" --config "$T/config.json" \
  </dev/null >"$T/pouchd.log" 2>&1 &
PD_PID=$!
for _ in $(seq 150); do "$DOCKER" -H "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
"$DOCKER" -H "$SOCK" load -q -i "$BB" >/dev/null || die "loading busybox into pouchd failed"
if ((HAVE_DOCKER)) && ! "$DOCKER" image inspect busybox:latest >/dev/null 2>&1; then
  "$DOCKER" load -q -i "$BB" >/dev/null && LOADED_D=1
fi

# probe ENGINE-CLI… : one value per probe, in the order of NAMES.
NAMES=("CapEff (default)" "Seccomp mode (default)" "unshare -U (default)" "unshare -U (unconfined)"
  "mount tmpfs (default)" "mount tmpfs (--privileged)" "/proc/timer_list bytes" "sleeps started, --pids-limit 20"
  "-m 64m, 100 MiB: exit / OOMKilled" "--cpus 0.5 busy loop: docker stats CPU %")
probe() {
  local D=("$@") r=()
  run() { "${D[@]}" run --rm --network none "$@" 2>&1 | tail -1; }
  r+=("$(run busybox sh -c 'grep ^CapEff: /proc/self/status | cut -f2')")
  r+=("$(run busybox sh -c 'grep ^Seccomp: /proc/self/status | cut -f2')")
  r+=("$(run busybox sh -c 'unshare -U true 2>&1 && echo allowed')")
  r+=("$(run --security-opt seccomp=unconfined busybox sh -c 'unshare -U true 2>&1 && echo allowed')")
  r+=("$(run busybox sh -c 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>&1 && echo mounted')")
  r+=("$(run --privileged busybox sh -c 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>&1 && echo mounted')")
  r+=("$(run busybox sh -c 'cat /proc/timer_list | wc -c')")
  r+=("$("${D[@]}" run --rm --network none --pids-limit 20 busybox sh -c \
    'i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i; done' 2>/dev/null | tail -1)")
  "${D[@]}" run --name hp-oom --network none -m 64m --memory-swap 64m busybox \
    dd if=/dev/zero of=/dev/null bs=100M count=1 >/dev/null 2>&1
  r+=("$("${D[@]}" inspect -f '{{.State.ExitCode}} / {{.State.OOMKilled}}' hp-oom)")
  "${D[@]}" rm -f hp-oom >/dev/null 2>&1
  "${D[@]}" run -d --name hp-cpu --network none --cpus 0.5 busybox sh -c 'while :; do :; done' >/dev/null
  sleep 2   # let the loop reach its quota before sampling
  r+=("$("${D[@]}" stats --no-stream --format '{{.CPUPerc}}' hp-cpu)")
  "${D[@]}" rm -f hp-cpu >/dev/null 2>&1
  printf '%s\n' "${r[@]}"
}

log "probing pouchd"
mapfile -t P < <(probe "$DOCKER" -H "$SOCK")
if ((HAVE_DOCKER)); then
  log "probing dockerd"
  mapfile -t D < <(probe "$DOCKER")
fi

if ((HAVE_DOCKER)); then
  echo "| probe | pouch | docker |"; echo "|---|---|---|"
  for i in "${!NAMES[@]}"; do echo "| ${NAMES[$i]} | ${P[$i]:-} | ${D[$i]:-} |"; done
else
  echo "| probe | pouch |"; echo "|---|---|"
  for i in "${!NAMES[@]}"; do echo "| ${NAMES[$i]} | ${P[$i]:-} |"; done
  echo
  echo "- docker: dockerd is not running (shared/bench/setup-peers.sh starts it) — column skipped"
fi
echo "- $(uname -r), cgroup $( [[ -d /sys/fs/cgroup/memory ]] && echo v1 || echo v2 ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
