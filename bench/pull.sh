#!/usr/bin/env bash
# bench/pull.sh — pull + unpack throughput from a local registry: the ~100 MB, 4-layer gzip image
# built by ../shared/bench/make-images.sh (an OCI layout), pushed by pouch to its own
# docker-registry on 127.0.0.1, then pulled again and again (each run starts from an empty store).
# Prints one markdown table on stdout (progress on stderr).
#
#   pouch   = target/release/pouch -H unix://$T/pouchd.sock pull
#   d→pouch = the docker CLI against pouchd (same daemon, stock client)
#   docker  = the docker CLI against dockerd: the running one, or with PRIVATE_DOCKERD=1 one this
#             script starts in its own data/exec roots with no iptables, no bridge (so it
#             touches nothing on the host) and stops at the end
#
# Usage (as root): cargo build --release --bins && bench/pull.sh
# Env: RUNS=5, BIN=target/release, IMG=/tmp/pouch-bench-images/big-oci, DOCKER=/usr/bin/docker,
#      PRIVATE_DOCKERD=0
set -uo pipefail
export LC_ALL=C
RUNS=${RUNS:-5}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/target/release}
IMG=${IMG:-/tmp/pouch-bench-images/big-oci}
DOCKER=${DOCKER:-/usr/bin/docker}

log() { printf '[bench-pull] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
for b in pouchd pouch pouch-shim; do [[ -x $BIN/$b ]] || die "$BIN/$b missing: cargo build --release --bins"; done
[[ -x /usr/bin/docker-registry ]] || die "docker-registry missing: apt-get install docker-registry"
command -v hyperfine >/dev/null || die "hyperfine missing: apt-get install hyperfine"
[[ -f $IMG/index.json ]] || die "$IMG missing: run ../shared/bench/make-images.sh"

T=$(mktemp -d /var/tmp/pouch-bench-pull.XXXXXX)
SOCK=unix://$T/pouchd.sock
POUCH="$BIN/pouch -H $SOCK"
export DOCKER_CONFIG=$T/docker-config; mkdir -p "$DOCKER_CONFIG"; echo '{}' >"$DOCKER_CONFIG/config.json"
unset DOCKER_HOST DOCKER_CONTEXT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NAME=127.0.0.1:$PORT/bench/big:latest

REG_PID="" PD_PID="" DD_PID=""
DHOST=()   # -H for the docker row when dockerd is private
cleanup() {
  set +e
  [[ -n $PD_PID ]] && kill -TERM "$PD_PID" 2>/dev/null && wait "$PD_PID" 2>/dev/null
  if ((HAVE_DOCKER)); then "$DOCKER" "${DHOST[@]}" rmi -f "$NAME" >/dev/null 2>&1; fi
  if [[ -n $DD_PID ]]; then
    kill -TERM "$DD_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DD_PID" 2>/dev/null || break; sleep 0.1; done
    umount -R "$T/dockerd" 2>/dev/null
  fi
  [[ -n $REG_PID ]] && kill -TERM "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  umount -R "$T/root" 2>/dev/null
  rm -rf "$T"
}
HAVE_DOCKER=0
trap cleanup EXIT

cat >"$T/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$PORT
  secret: bench
YML
/usr/bin/docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 &
REG_PID=$!
echo "{}" >"$T/pouchd.json"
"$BIN/pouchd" --root "$T/root" --exec-root "$T/exec" -H "$SOCK" --config "$T/pouchd.json" >"$T/pouchd.log" 2>&1 &
PD_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && $POUCH version >/dev/null 2>&1 && break
  sleep 0.1
done
$POUCH version >/dev/null 2>&1 || die "pouchd did not start: $(tail -5 "$T/pouchd.log")"

log "loading $IMG and pushing it to $NAME"
LOADED=$(tar -C "$IMG" -cf - . | $POUCH load) || die "load failed"
SRC=$(awk '/Loaded image/ {print $NF; exit}' <<<"$LOADED")
[[ -n $SRC ]] || die "load named no image: $LOADED"
$POUCH tag "$SRC" "$NAME" || die "tag failed"
PUSH_START=$(date +%s.%N)
$POUCH push -q "$NAME" >/dev/null || die "push failed"
PUSH_S=$(echo "$(date +%s.%N) - $PUSH_START" | bc)
$POUCH rmi -f "$NAME" >/dev/null 2>&1
# Drop every other image too, so each pull starts from an empty content store and snapshotter.
for id in $($POUCH images -q 2>/dev/null); do $POUCH rmi -f "$id" >/dev/null 2>&1; done

read -r COMPRESSED UNPACKED < <(python3 - "$IMG" <<'PY'
import json, sys, os
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
m = json.load(open(os.path.join(d, "blobs/sha256", idx["manifests"][0]["digest"][7:])))
comp = sum(l["size"] for l in m["layers"])
import gzip
unp = 0
for l in m["layers"]:
    with gzip.open(os.path.join(d, "blobs/sha256", l["digest"][7:])) as f:
        while True:
            b = f.read(1 << 20)
            if not b: break
            unp += len(b)
print(comp, unp)
PY
)

declare -A MEAN
hf() {  # hf KEY PREPARE COMMAND
  local key=$1 prep=$2 cmd=$3 json=$T/$1.json
  log "measuring $key: $cmd"
  hyperfine -N --runs "$RUNS" --prepare "$prep" --export-json "$json" "$cmd" >/dev/null 2>&1 \
    || { log "$key failed"; return; }
  MEAN[$key]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$json")
}
hf pouch "sh -c '$POUCH rmi -f $NAME >/dev/null 2>&1; true'" "$POUCH pull -q $NAME"
if [[ -x $(command -v docker) ]]; then
  PD="docker -H $SOCK"
  hf dpouch "sh -c '$PD rmi -f $NAME >/dev/null 2>&1; true'" "$PD pull -q $NAME"
fi
if [[ ${PRIVATE_DOCKERD:-0} == 1 && -x /usr/sbin/dockerd ]]; then
  log "starting a private dockerd (no iptables, no bridge)"
  setsid /usr/sbin/dockerd --data-root "$T/dockerd/data" --exec-root "$T/dockerd/exec" \
    -H "unix://$T/dockerd.sock" --pidfile "$T/dockerd.pid" --iptables=false --ip6tables=false \
    --bridge=none --ip-masq=false >"$T/dockerd.log" 2>&1 </dev/null &
  DD_PID=$!
  DHOST=(-H "unix://$T/dockerd.sock")
  for _ in $(seq 100); do "$DOCKER" "${DHOST[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
fi
if [[ -x $DOCKER ]] && "$DOCKER" "${DHOST[@]}" info >/dev/null 2>&1; then
  HAVE_DOCKER=1
  D="$DOCKER ${DHOST[*]}"
  hf docker "sh -c '$D rmi -f $NAME >/dev/null 2>&1; true'" "$D pull -q $NAME"
fi

mb() { echo "scale=1; $1 / 1000000" | bc; }
echo "Pull of $NAME: 4 gzip layers, $(mb "$COMPRESSED") MB compressed, $(mb "$UNPACKED") MB unpacked; registry and engine on this host; $RUNS runs each, empty store before each."
echo
echo "| client → engine | mean s | compressed MB/s | unpacked MB/s |"
echo "|---|---|---|---|"
for key in pouch dpouch docker; do
  [[ -n ${MEAN[$key]:-} ]] || continue
  label=$key; [[ $key == dpouch ]] && label="docker CLI → pouchd"; [[ $key == pouch ]] && label="pouch → pouchd"; [[ $key == docker ]] && label="docker → dockerd"
  m=${MEAN[$key]}
  printf '| %s | %.2f | %.0f | %.0f |\n' "$label" "$m" "$(echo "$COMPRESSED / $m / 1000000" | bc -l)" "$(echo "$UNPACKED / $m / 1000000" | bc -l)"
done
echo
printf 'pouch push of the same image to the empty registry: %.2f s\n' "$PUSH_S"
((HAVE_DOCKER)) || echo "(dockerd not running: no docker → dockerd row; ../shared/bench/setup-peers.sh starts it)"
