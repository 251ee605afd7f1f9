#!/usr/bin/env bash
# bench/run.sh — start-up, load, fan-out and memory figures for pouch, side by side with
# docker and podman when they are installed.  Prints one markdown table on stdout
# (progress on stderr).
#
# It starts its own pouchd from target/release in a temporary root, loads the busybox image
# built by scripts/make-test-images.py, and measures with hyperfine the same command lines on
# every engine present:
#   pouch   = target/release/pouch  -H unix://$T/pouchd.sock
#   d→pouch = the docker CLI        -H unix://$T/pouchd.sock   (stock client, pouch's API)
#   docker  = $DOCKER (Debian's /usr/bin/docker) against dockerd
#   podman  = podman (rootful, daemonless)
# Rows run with --network none, except the bridge row (`run --rm busybox true` on the default
# bridge; pouchd here uses its own bridge `pbench0` and nft table `pouch_bench`).
#
# Usage (as root): cargo build --release --bins && bench/run.sh
# Env: RUNS=20 WARMUP=3 (fast rows), BIG_RUNS=5 (big-image load), N=50 (fan-out),
#      BIN=target/release, DOCKER=/usr/bin/docker, BIG=/tmp/pouch-bench-images/big-docker-archive.tar
set -uo pipefail
export LC_ALL=C
RUNS=${RUNS:-20} WARMUP=${WARMUP:-3} BIG_RUNS=${BIG_RUNS:-5} N=${N:-50}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/target/release}
DOCKER=${DOCKER:-/usr/bin/docker}
BIG=${BIG:-/tmp/pouch-bench-images/big-docker-archive.tar}
PODMAN=${PODMAN:-podman}   # set to a missing path to skip podman

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (containers need it)"
for b in pouchd pouch pouch-shim; do [[ -x $BIN/$b ]] || die "$BIN/$b missing: cargo build --release --bins"; done
if ! command -v hyperfine >/dev/null; then
  log "installing hyperfine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1 || die "cannot install hyperfine"
fi

# /var/tmp, not /tmp: the same filesystem as /var/lib/docker and /var/lib/containers.
T=$(mktemp -d /var/tmp/pouch-bench.XXXXXX)
SOCK=unix://$T/pouchd.sock
POUCH="$BIN/pouch -H $SOCK"
export DOCKER_CONFIG=$T/docker-config; mkdir -p "$DOCKER_CONFIG"   # no user config, no contexts
echo '{}' >"$DOCKER_CONFIG/config.json"                           # podman reads it too
unset DOCKER_HOST DOCKER_CONTEXT
DCLI=$DOCKER; [[ -x $DCLI ]] || DCLI=$(command -v docker || true)
PD=""; [[ -n $DCLI ]] && PD="$DCLI -H $SOCK"
HAVE_DOCKER=0; [[ -x $DOCKER ]] && "$DOCKER" info >/dev/null 2>&1 && HAVE_DOCKER=1
HAVE_PODMAN=0; command -v "$PODMAN" >/dev/null && $PODMAN info >/dev/null 2>&1 && HAVE_PODMAN=1
note() { echo "- $*" >>"$T/notes"; }   # a file: hf runs in $(…) subshells
((HAVE_DOCKER)) || note "docker: not installed or dockerd not running — docker column skipped"
((HAVE_PODMAN)) || note "podman: not installed or not working — podman column skipped"
[[ -n $PD ]] || note "no docker CLI: the docker CLI → pouchd column skipped"

# --- cleanup: only what this script started -----------------------------------------
PD_PID=""; KEEP_D=""; KEEP_P=""
cleanup() {
  set +e
  if [[ -n $PD_PID ]] && kill -0 "$PD_PID" 2>/dev/null; then
    ids=$($POUCH ps -aq 2>/dev/null); [[ -n $ids ]] && $POUCH rm -f $ids >/dev/null 2>&1
    kill -TERM "$PD_PID"; for _ in $(seq 50); do kill -0 "$PD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PD_PID" 2>/dev/null
  fi
  for f in "$T"/exec/containers/*/shim.pid; do     # shims of containers rm could not remove
    [[ -f $f ]] && p=$(cat "$f") && grep -qs "$T" "/proc/$p/cmdline" && kill -KILL "$p"
  done
  findmnt -rn -o TARGET | grep "^$T/" | sort -r | xargs -r -n1 umount -l
  if ((HAVE_DOCKER)); then
    ids=$("$DOCKER" ps -aq --filter name=pb50- --filter name=pb-exec); [[ -n $ids ]] && "$DOCKER" rm -f $ids >/dev/null
    "$DOCKER" rmi big:latest >/dev/null 2>&1
    if [[ -n $KEEP_D ]]; then "$DOCKER" rmi busybox:latest >/dev/null 2>&1
      "$DOCKER" tag "$KEEP_D" busybox:latest && "$DOCKER" rmi "$KEEP_D" >/dev/null; fi
  fi
  if ((HAVE_PODMAN)); then
    ids=$(podman ps -aq --filter name=pb50- --filter name=pb-exec); [[ -n $ids ]] && podman rm -f -t 0 $ids >/dev/null
    podman rmi big:latest >/dev/null 2>&1
    [[ -n ${PODMAN_IMG:-} ]] && podman rmi "$PODMAN_IMG" >/dev/null 2>&1
    for kv in $KEEP_P; do podman tag "${kv#*=}" "${kv%%=*}"; done   # give back what the load untagged
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- machine, daemon, image ---------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "building the busybox image"
python3 "$REPO/scripts/make-test-images.py" "$T/img" >/dev/null || die "make-test-images.py failed"
BB=$T/img/busybox-docker.tar
echo '{"bridge": "pbench0", "nft-table": "pouch_bench"}' >"$T/config.json"
log "starting pouchd in $T"
"$BIN/pouchd" --root "$T/root" --exec-root "$T/exec" -H "$SOCK" --config "$T/config.json" \
  </dev/null >"$T/pouchd.log" 2>&1 &
PD_PID=$!
for _ in $(seq 150); do $POUCH version >/dev/null 2>&1 && break; sleep 0.1; done
$POUCH version >/dev/null 2>&1 || { tail -20 "$T/pouchd.log" >&2; die "pouchd did not come up"; }
$POUCH load -i "$BB" >/dev/null || die "pouch load failed"
# docker/podman: run the same image.  Keep whatever busybox:latest they had under a spare
# tag and give it back in cleanup (the load rows delete and re-load busybox:latest).
if ((HAVE_DOCKER)); then
  if "$DOCKER" image inspect busybox:latest >/dev/null 2>&1; then
    KEEP_D=pouch-bench-keep/busybox:latest; "$DOCKER" tag busybox:latest "$KEEP_D"; fi
  "$DOCKER" load -q -i "$BB" >/dev/null || die "docker load failed"
fi
if ((HAVE_PODMAN)); then   # podman may name it localhost/busybox or docker.io/library/busybox
  for n in localhost/busybox:latest docker.io/library/busybox:latest; do
    id=$(podman image inspect -f '{{.Id}}' "$n" 2>/dev/null) && KEEP_P+=" $n=$id"; done
  PODMAN_IMG=$(podman load -q -i "$BB" | sed -n 's/^Loaded image[^:]*: *//p' | head -1)
  [[ -n $PODMAN_IMG ]] || die "podman load failed"
  if ! err=$($PODMAN run --rm --network none "$PODMAN_IMG" true 2>&1); then
    note "podman with its default runtime failed ($(echo "$err" | tail -1 | cut -c1-160)); podman rows use \`--runtime runc\`"
    PODMAN="podman --runtime runc"
  fi
fi

# --- helpers --------------------------------------------------------------------------
# hf NAME [hyperfine options...] COMMAND  → "median / mean / min" in ms, or FAILED
hf() {
  local name=$1; shift
  log "hyperfine: $name"
  if ! timeout 900 hyperfine --style none --export-json "$T/$name.json" "$@" >"$T/$name.log" 2>&1; then
    note "$name FAILED: $(grep -v '^\s*$' "$T/$name.log" | tail -3 | tr '\n' ' ' | cut -c1-300)"
    echo FAILED; return
  fi
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
print("%.1f / %.1f / %.1f" % (r["median"]*1e3, r["mean"]*1e3, r["min"]*1e3))' "$T/$name.json"
}
median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$T/$1.json" 2>/dev/null; }
fast() { hf "$1" -N -w "$WARMUP" -r "$RUNS" "${@:2}"; }
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 |"); }
skip="—"

# run_row NAME ARGS PODMAN_ARGS NOTE: the CLI arguments ARGS timed on every engine (podman with
# PODMAN_ARGS, which name its image), as hyperfine runs NAME-pouch, NAME-dpouch, NAME-docker,
# NAME-podman; one table row labelled with ARGS and NOTE.
run_row() {
  local name=$1 args=$2 podman_args=$3 note=$4 c1 c2 c3 c4
  c1=$(fast "$name-pouch" "$POUCH $args")
  c2=$skip; [[ -n $PD ]] && c2=$(fast "$name-dpouch" "$PD $args")
  c3=$skip; ((HAVE_DOCKER)) && c3=$(fast "$name-docker" "$DOCKER $args")
  c4=$skip; ((HAVE_PODMAN)) && c4=$(fast "$name-podman" "$PODMAN $podman_args")
  row "\`$args\` ($note)" "$c1" "$c2" "$c3" "$c4"
}

# 1. run --rm --network none busybox true
run_row run "run --rm --network none busybox true" \
  "run --rm --network none ${PODMAN_IMG:-} true" "median / mean / min ms"

# 1b. the same on the default bridge (veth, address, nft): what networking adds to a run
run_row runbr "run --rm busybox true" "run --rm ${PODMAN_IMG:-} true" \
  "default bridge; median / mean / min ms"

# 2. exec into a running container
$POUCH run -d --name pb-exec --network none busybox sleep 600 >/dev/null
c1=$(fast exec-pouch "$POUCH exec pb-exec true")
c2=$skip; [[ -n $PD ]] && c2=$(fast exec-dpouch "$PD exec pb-exec true")
$POUCH rm -f pb-exec >/dev/null
c3=$skip; c4=$skip
if ((HAVE_DOCKER)); then
  "$DOCKER" run -d --name pb-exec --network none busybox sleep 600 >/dev/null
  c3=$(fast exec-docker "$DOCKER exec pb-exec true"); "$DOCKER" rm -f pb-exec >/dev/null; fi
if ((HAVE_PODMAN)); then
  $PODMAN run -d --name pb-exec --network none "$PODMAN_IMG" sleep 600 >/dev/null
  c4=$(fast exec-podman "podman exec pb-exec true"); podman rm -f -t 0 pb-exec >/dev/null; fi
row "\`exec pb-exec true\` (median / mean / min ms)" "$c1" "$c2" "$c3" "$c4"

# 3. load, with rmi before each run (hyperfine --prepare; timed: the load only)
load_row() { # load_row LABEL TAR TAG RUNS WARMUP PODMAN_NAME
  local label=$1 tar=$2 tag=$3 r=$4 w=$5 pn=$6 a b c
  a=$(hf "load-pouch-$tag" -w "$w" -r "$r" -p "$POUCH rmi $tag:latest >/dev/null 2>&1 || true" "$POUCH load -q -i $tar")
  b=$skip; ((HAVE_DOCKER)) && b=$(hf "load-docker-$tag" -w "$w" -r "$r" \
    -p "$DOCKER rmi $tag:latest >/dev/null 2>&1 || true" "$DOCKER load -q -i $tar")
  c=$skip; ((HAVE_PODMAN)) && c=$(hf "load-podman-$tag" -w "$w" -r "$r" \
    -p "podman rmi $pn >/dev/null 2>&1 || true" "podman load -q -i $tar")
  row "$label" "$a" "$skip" "$b" "$c"
}
load_row "\`load -i busybox-docker.tar\` ($(( $(stat -c %s "$BB") / 1024 )) KiB; median / mean / min ms)" "$BB" busybox "$RUNS" 1 "${PODMAN_IMG:-}"
$POUCH image inspect busybox:latest >/dev/null 2>&1 || $POUCH load -q -i "$BB" >/dev/null
if [[ -f $BIG ]]; then
  load_row "\`load -i big-docker-archive.tar\` ($(( $(stat -c %s "$BIG") >> 20 )) MiB, 4 layers; median / mean / min ms)" "$BIG" big "$BIG_RUNS" 1 big:latest
  $POUCH rmi big:latest >/dev/null 2>&1
else
  note "big image: $BIG not found (run /work/shared/bench/make-images.sh) — row skipped"
fi

# 4. N concurrent `run -d busybox sleep 60`: wall time until every client returned
fanout() { # fanout "CLI" IMAGE → seconds (+ failure count)
  local cli=$1 img=$2 t0 fails=0 i pids=()
  t0=$(date +%s%N)
  for i in $(seq 1 "$N"); do
    $cli run -d --name "pb50-$i" --network none "$img" sleep 60 >/dev/null 2>>"$T/fanout.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || fails=$((fails + 1)); done
  local t1; t1=$(date +%s%N)
  local up; up=$($cli ps -q --filter name=pb50- --filter status=running | wc -l)
  awk -v a="$t0" -v b="$t1" -v f="$fails" -v u="$up" -v n="$N" \
    'BEGIN{printf "%.2f s (%d/%d running)%s", (b-a)/1e9, u, n, f ? ", " f " run FAILED" : ""}'
  $cli rm -f $(seq -f "pb50-%g" 1 "$N") >/dev/null 2>&1
}
log "fan-out: $N × run -d (pouch)"; a=$(fanout "$POUCH" busybox)
b=$skip; ((HAVE_DOCKER)) && { log "fan-out: docker"; b=$(fanout "$DOCKER" busybox); }
[[ -s $T/fanout.err ]] && note "fan-out errors: $(sort "$T/fanout.err" | uniq -c | head -3 | tr '\n' ' ' | cut -c1-300)"
row "$N× concurrent \`run -d --network none busybox sleep 60\` (wall)" "$a" "$skip" "$b" "$skip"

# 5. memory: idle pouchd, one pouch-shim supervising `sleep`
rss() { awk '/^VmRSS:/{r=$2} /^RssAnon:/{a=$2} END{printf "%.1f / %.1f MiB", r/1024, a/1024}' "/proc/$1/status"; }
sleep 2
row "pouchd idle RSS (VmRSS / RssAnon), 0 containers" "$(rss "$PD_PID")" "$skip" \
  "$( ((HAVE_DOCKER)) && echo "dockerd $(rss "$(cat /var/run/docker.pid)")" || echo "$skip")" "$skip"
$POUCH run -d --name pb-mem --network none busybox sleep 600 >/dev/null
SHIM=$(cat "$T"/exec/containers/*/shim.pid 2>/dev/null | head -1)
if [[ -n $SHIM ]] && [[ -r /proc/$SHIM/status ]]; then a=$(rss "$SHIM"); else a="FAILED (no shim.pid)"; fi
b=$skip
if ((HAVE_DOCKER)); then
  "$DOCKER" run -d --name pb-exec --network none busybox sleep 600 >/dev/null
  s=$(pgrep -f "containerd-shim-runc-v2 -namespace moby -id $("$DOCKER" inspect -f '{{.Id}}' pb-exec)" | head -1)
  [[ -n $s ]] && b="containerd-shim $(rss "$s")"; "$DOCKER" rm -f pb-exec >/dev/null
fi
$POUCH rm -f pb-mem >/dev/null
row "per-container supervisor RSS (VmRSS / RssAnon), one \`sleep\`" "pouch-shim $a" "$skip" "$b" "$skip"

sed 's/\x1b\[[0-9;]*m//g' "$T/pouchd.log" | grep -E '^\S+ +(ERROR|WARN) ' | cut -d' ' -f2- | sed 's/^ *//' >"$T/pouchd.err"
[[ -s $T/pouchd.err ]] && note "pouchd logged $(wc -l <"$T/pouchd.err") warnings/errors (incl. the expected ones of \`rmi\` in --prepare); most frequent: $(sort "$T/pouchd.err" | uniq -c | sort -rn | head -3 | tr -s ' \n' ' ' | cut -c1-500)"

# --- report -----------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -1; }
echo "## pouch benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)."
echo "Load average (1/5/15 min) before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "pouch: release binaries built $(date -u -r "$BIN/pouchd" '+%Y-%m-%d %H:%M UTC') (repo HEAD now $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)); $(ver "$DCLI" --version); $( ((HAVE_DOCKER)) && "$DOCKER" version -f 'dockerd {{.Server.Version}}' 2>/dev/null); $( ((HAVE_PODMAN)) && ver podman --version); $(ver hyperfine --version)."
echo "hyperfine: $WARMUP warmups + $RUNS runs (load: 1 + $RUNS, big load: 1 + $BIG_RUNS); run/exec with -N (no shell)."
echo
echo "| benchmark | pouch | docker CLI → pouchd | docker (dockerd) | podman |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
mp=$(median run-pouch); md=$(median run-docker)
if [[ -n $mp && -n $md ]]; then
  python3 -c 'import sys; p,d=map(float,sys.argv[1:]); r=p/d
print("Target: pouch `run --rm --network none true` median ≤ 0.3× the docker median: %.1f / %.1f ms = %.2f× — %s." % (p*1e3, d*1e3, r, "MET" if r <= 0.3 else "NOT met"))' "$mp" "$md"
fi
mb=$(median runbr-pouch)
if [[ -n $mp && -n $mb ]]; then
  python3 -c 'import sys; p,b=map(float,sys.argv[1:]); d=(b-p)*1e3
print("Target: the default bridge adds at most 20 ms to the median pouch run: %.1f − %.1f ms = %+.1f ms — %s." % (b*1e3, p*1e3, d, "MET" if d <= 20 else "NOT met"))' "$mp" "$mb"
fi
cat "$T/notes" 2>/dev/null
