#!/usr/bin/env bash
# bench/logs.sh — log driver throughput: how fast a container's stdout reaches its log, how
# fast `logs` reads it back, and how long `logs --tail` takes on that log; pouch side by side
# with docker and podman when they run here.  Prints one markdown table on stdout (progress
# on stderr).
#
# It starts its own pouchd from target/release in a temporary root (under /var/tmp, the
# filesystem of /var/lib/docker and /var/lib/containers), loads the busybox image built by
# scripts/make-test-images.py, and on every engine present:
#   write: `run -d --network none busybox sh -c 'yes LINE | head -c BYTES'` + `wait`, timed
#          from before `run` to after `wait` (the log is complete when `wait` returns);
#          WRITE_RUNS rounds, the engines taking turns in each, so that a drifting load on
#          a shared machine hits them alike; the median of each;
#   read:  `logs CONTAINER >/dev/null` on the last container written (READ_RUNS rounds,
#          readers taking turns; median);
#   tail:  `logs --tail 10 CONTAINER >/dev/null` (hyperfine; median).
# Engines: pouch = target/release/pouch → pouchd; d→pouch = the docker CLI → pouchd (read and
# tail rows); docker = $DOCKER → dockerd (json-file); podman (its default log driver).
#
# Usage (as root): cargo build --release -p pouchd -p pouch -p pouch-shim && bench/logs.sh
# Env: MB=283 (MB = 10^6 bytes of stdout), LINE=100 (bytes per line, newline included),
#      WRITE_RUNS=3, READ_RUNS=3, TAIL_RUNS=10, VERIFY=1 (count the bytes pouch reads back, untimed),
#      BIN=target/release, DOCKER=docker, PODMAN=podman (a missing path skips an engine).
set -uo pipefail
export LC_ALL=C
MB=${MB:-283} LINE=${LINE:-100} WRITE_RUNS=${WRITE_RUNS:-3} READ_RUNS=${READ_RUNS:-3}
TAIL_RUNS=${TAIL_RUNS:-10}
VERIFY=${VERIFY:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/target/release}
DOCKER=${DOCKER:-docker}
PODMAN=${PODMAN:-podman}
BYTES=$((MB * 1000000))
NAME=pb-logs-$$

log() { printf '[bench-logs] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (containers need it)"
((LINE >= 2)) || die "LINE must be at least 2 (one character and the newline)"
for b in pouchd pouch pouch-shim; do
  [[ -x $BIN/$b ]] || die "$BIN/$b missing: cargo build --release -p pouchd -p pouch -p pouch-shim"
done
command -v hyperfine >/dev/null || die "hyperfine missing (apt-get install hyperfine)"

T=$(mktemp -d /var/tmp/pouch-bench-logs.XXXXXX)
SOCK=unix://$T/pouchd.sock
POUCH="$BIN/pouch -H $SOCK"
export DOCKER_CONFIG=$T/docker-config; mkdir -p "$DOCKER_CONFIG"; echo '{}' >"$DOCKER_CONFIG/config.json"
unset DOCKER_HOST DOCKER_CONTEXT
DCLI=$(command -v "$DOCKER" || true)
HAVE_DOCKER=0; [[ -n $DCLI ]] && "$DCLI" -H unix:///var/run/docker.sock info >/dev/null 2>&1 && HAVE_DOCKER=1
DOCKERD="$DCLI -H unix:///var/run/docker.sock"
HAVE_PODMAN=0; command -v "$PODMAN" >/dev/null && "$PODMAN" info >/dev/null 2>&1 && HAVE_PODMAN=1
note() { echo "- $*" >>"$T/notes"; }
((HAVE_DOCKER)) || note "docker: no docker CLI or no dockerd on /var/run/docker.sock — docker column skipped"
((HAVE_PODMAN)) || note "podman: not installed or not working — podman column skipped"
[[ -n $DCLI ]] || note "no docker CLI: the docker CLI → pouchd column skipped"

# --- cleanup: only what this script started -----------------------------------------------
PD_PID=""; D_LOADED=""; D_KEEP=""; P_LOADED=""
cleanup() {
  set +e
  if [[ -n $PD_PID ]] && kill -0 "$PD_PID" 2>/dev/null; then
    $POUCH rm -f "$NAME" >/dev/null 2>&1
    kill -TERM "$PD_PID"
    for _ in $(seq 50); do kill -0 "$PD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PD_PID" 2>/dev/null
  fi
  for f in "$T"/exec/containers/*/shim.pid; do   # a shim rm could not end
    [[ -f $f ]] && p=$(cat "$f") && grep -qs "$T" "/proc/$p/cmdline" && kill -KILL "$p"
  done
  findmnt -rn -o TARGET | grep "^$T/" | sort -r | xargs -r -n1 umount -l
  if ((HAVE_DOCKER)); then
    $DOCKERD rm -f "$NAME" >/dev/null 2>&1
    if [[ -n $D_LOADED ]]; then
      $DOCKERD rmi busybox:latest >/dev/null 2>&1
      [[ -n $D_KEEP ]] && $DOCKERD tag "$D_KEEP" busybox:latest && $DOCKERD rmi pouch-bench-logs-keep:busybox >/dev/null
    fi
  fi
  if ((HAVE_PODMAN)); then
    $PODMAN rm -f -t 0 "$NAME" >/dev/null 2>&1
    [[ -n $P_LOADED ]] && $PODMAN rmi -f "$P_LOADED" >/dev/null 2>&1
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- daemon and image ------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "building the busybox image"
python3 "$REPO/scripts/make-test-images.py" "$T/img" >/dev/null || die "make-test-images.py failed"
BB=$T/img/busybox-docker.tar
IMG_ID=$(python3 -c 'import json,sys,tarfile
m = json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json"))
print(m[0]["Config"].split("/")[-1].removesuffix(".json"))' "$BB") || die "cannot read the image id"
echo '{"bridge": "pblogs0", "nft-table": "pouch_bench_logs"}' >"$T/config.json"
log "starting pouchd in $T"
"$BIN/pouchd" --root "$T/root" --exec-root "$T/exec" -H "$SOCK" --config "$T/config.json" \
  </dev/null >"$T/pouchd.log" 2>&1 &
PD_PID=$!
for _ in $(seq 150); do $POUCH version >/dev/null 2>&1 && break; sleep 0.1; done
$POUCH version >/dev/null 2>&1 || { tail -20 "$T/pouchd.log" >&2; die "pouchd did not come up"; }
$POUCH load -q -i "$BB" >/dev/null || die "pouch load failed"
# docker and podman run the same image, by id; load it only when they lack it, and give
# back whatever busybox:latest named before.
if ((HAVE_DOCKER)) && ! $DOCKERD image inspect "sha256:$IMG_ID" >/dev/null 2>&1; then
  if $DOCKERD image inspect busybox:latest >/dev/null 2>&1; then
    D_KEEP=pouch-bench-logs-keep:busybox; $DOCKERD tag busybox:latest "$D_KEEP"; fi
  $DOCKERD load -q -i "$BB" >/dev/null || die "docker load failed"; D_LOADED=1
fi
if ((HAVE_PODMAN)) && ! $PODMAN image inspect "$IMG_ID" >/dev/null 2>&1; then
  $PODMAN load -q -i "$BB" >/dev/null || die "podman load failed"; P_LOADED=$IMG_ID
fi

# --- helpers -------------------------------------------------------------------------------
ROW_TEXT=$(head -c $((LINE - 1)) /dev/zero | tr '\0' 'x')
GEN="yes $ROW_TEXT | head -c $BYTES"
now() { date +%s%N; }
mbps() { awk -v b="$BYTES" -v ns="$1" 'BEGIN{printf "%.1f MB/s (%.2f s)", b/(ns/1e9)/1e6, ns/1e9}'; }
median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
skip="—"

# Engines, as "label|cli|image" (each keeps its container NAME for the read rows).
ENGINES=("pouch|$POUCH|busybox")
((HAVE_DOCKER)) && ENGINES+=("docker|$DOCKERD|sha256:$IMG_ID")
((HAVE_PODMAN)) && ENGINES+=("podman|$PODMAN|$IMG_ID")
# Readers, as "label|cli": the docker CLI also reads pouchd.
READERS=("pouch|$POUCH")
[[ -n $DCLI ]] && READERS+=("dpouch|$DCLI -H $SOCK")
((HAVE_DOCKER)) && READERS+=("docker|$DOCKERD")
((HAVE_PODMAN)) && READERS+=("podman|$PODMAN")
declare -A W R TL S

# write_once CLI IMAGE → nanoseconds of `run -d` + `wait` (the container stays)
write_once() {
  local cli=$1 img=$2 t0 code
  $cli rm -f "$NAME" >/dev/null 2>&1
  t0=$(now)
  $cli run -d --name "$NAME" --network none "$img" sh -c "$GEN" >/dev/null || return 1
  code=$($cli wait "$NAME") && [[ $code == 0 ]] || return 1
  echo $(($(now) - t0))
}
# read_once CLI → nanoseconds of `logs NAME >/dev/null`
read_once() {
  local t0; t0=$(now)
  $1 logs "$NAME" >/dev/null 2>"$T/read.err" || return 1
  echo $(($(now) - t0))
}
# tail_ms CLI TAG → median ms of `logs --tail 10 NAME`
tail_ms() {
  if ! hyperfine --style none -N -w 1 -r "$TAIL_RUNS" --export-json "$T/tail-$2.json" \
    "$1 logs --tail 10 $NAME" >"$T/tail-$2.log" 2>&1; then
    echo FAILED; return; fi
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
print("%.1f ms" % (r["median"]*1e3))' "$T/tail-$2.json"
}
# figure FILE → "median MB/s (s)" of the nanoseconds in FILE, or FAILED
figure() {
  if [[ -s $1 ]] && ! grep -q FAILED "$1"; then mbps "$(median <"$1")"; else echo FAILED; fi
}
size_of() { awk '{printf "%.0f MB", $1/1e6}' <<<"$1"; }

# --- the generator alone: the ceiling of every engine --------------------------------------
t0=$(now); /bin/busybox sh -c "$GEN" | cat >/dev/null; GEN_RATE=$(mbps $(($(now) - t0)))

# --- write, engines taking turns (the load on a shared machine drifts) ----------------------
for i in $(seq "$WRITE_RUNS"); do
  for e in "${ENGINES[@]}"; do
    IFS='|' read -r label cli img <<<"$e"
    log "write $i/$WRITE_RUNS: $label, $MB MB"
    write_once "$cli" "$img" >>"$T/w-$label" || echo FAILED >>"$T/w-$label"
  done
done
for e in "${ENGINES[@]}"; do IFS='|' read -r label _ <<<"$e"; W[$label]=$(figure "$T/w-$label"); done
S[pouch]=$(size_of "$(stat -c %s "$($POUCH inspect -f '{{.LogPath}}' "$NAME")" 2>/dev/null || echo 0)")
((HAVE_DOCKER)) && S[docker]=$(size_of "$(stat -c %s "$($DOCKERD inspect -f '{{.LogPath}}' "$NAME")" 2>/dev/null || echo 0)")
if ((HAVE_PODMAN)); then
  pl=$($PODMAN inspect -f '{{.HostConfig.LogConfig.Path}}' "$NAME" 2>/dev/null)
  [[ -f $pl ]] && S[podman]=$(size_of "$(stat -c %s "$pl")")
fi
if ((VERIFY)); then
  got=$($POUCH logs "$NAME" 2>/dev/null | wc -c)
  [[ $got == "$BYTES" ]] || note "pouch logs read back $got bytes, not $BYTES"
fi

# --- read back, readers taking turns ----------------------------------------------------------
for i in $(seq "$READ_RUNS"); do
  for e in "${READERS[@]}"; do
    IFS='|' read -r label cli <<<"$e"
    log "read $i/$READ_RUNS: $label"
    read_once "$cli" >>"$T/r-$label" || echo FAILED >>"$T/r-$label"
  done
done
for e in "${READERS[@]}"; do
  IFS='|' read -r label cli <<<"$e"
  R[$label]=$(figure "$T/r-$label")
  log "tail: $label"; TL[$label]=$(tail_ms "$cli" "$label")
done
$POUCH rm -f "$NAME" >/dev/null
if ((HAVE_DOCKER)); then
  $DOCKERD rm -f "$NAME" >/dev/null
  note "docker's log driver: $($DOCKERD info -f '{{.LoggingDriver}}' 2>/dev/null)"
fi
if ((HAVE_PODMAN)); then
  $PODMAN rm -f -t 0 "$NAME" >/dev/null
  note "podman's log driver: $($PODMAN info -f '{{.Host.LogDriver}}' 2>/dev/null), runtime $($PODMAN info -f '{{.Host.OCIRuntime.Name}}' 2>/dev/null)"
fi
W1=${W[pouch]:-$skip} W3=${W[docker]:-$skip} W4=${W[podman]:-$skip}
S1=${S[pouch]:-$skip} S3=${S[docker]:-$skip} S4=${S[podman]:-$skip}
R1=${R[pouch]:-$skip} R2=${R[dpouch]:-$skip} R3=${R[docker]:-$skip} R4=${R[podman]:-$skip}
TL1=${TL[pouch]:-$skip} TL2=${TL[dpouch]:-$skip} TL3=${TL[docker]:-$skip} TL4=${TL[podman]:-$skip}

# --- report ----------------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -1; }
echo "## pouch log benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)."
echo "Load average (1/5/15 min) before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "pouch: release binaries built $(date -u -r "$BIN/pouchd" '+%Y-%m-%d %H:%M UTC') (repo HEAD now $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)); $(ver "$DCLI" --version); $( ((HAVE_DOCKER)) && $DOCKERD version -f 'dockerd {{.Server.Version}}' 2>/dev/null); $( ((HAVE_PODMAN)) && ver "$PODMAN" --version)."
echo "Workload: \`sh -c 'yes x…x | head -c $BYTES'\`: $MB MB of stdout in $LINE-byte lines ($((BYTES / LINE)) lines); MB = 10^6 bytes. The generator alone (host busybox into a pipe): $GEN_RATE."
echo
echo "| figure | pouch | docker CLI → pouchd | docker (dockerd) | podman |"
echo "|---|---|---|---|---|"
echo "| write: \`run -d\` + \`wait\`, $MB MB of stdout (median of $WRITE_RUNS) | $W1 | $skip | $W3 | $W4 |"
echo "| log file size | $S1 | $skip | $S3 | $S4 |"
echo "| read: \`logs > /dev/null\` (median of $READ_RUNS; MB of stdout per s) | $R1 | $R2 | $R3 | $R4 |"
echo "| \`logs --tail 10\` (median of $TAIL_RUNS) | $TL1 | $TL2 | $TL3 | $TL4 |"
echo
# The goals (issue 14): read-back with the pouch CLI ≥ 100 MB/s; write ≥ podman's and ≥ 4×
# docker's.
num() { [[ $1 =~ ^([0-9.]+)\ MB/s ]] && echo "${BASH_REMATCH[1]}"; }
goal() { # goal TEXT A B K → "A / B = ratio — MET|NOT met" (met when A ≥ K·B)
  [[ -n $2 && -n $3 ]] || return
  awk -v t="$1" -v a="$2" -v b="$3" -v k="$4" 'BEGIN{printf "Target: %s: %.1f / %.1f = %.2f× — %s.\n", t, a, b, a/b, (a >= k*b ? "MET" : "NOT met")}'
}
goal "pouch logs read-back ≥ 100 MB/s (MB/s)" "$(num "$R1")" 100 1
goal "pouch write ≥ podman write" "$(num "$W1")" "$(num "$W4")" 1
goal "pouch write ≥ 4× docker write" "$(num "$W1")" "$(num "$W3")" 4
echo
cat "$T/notes" 2>/dev/null
sed 's/\x1b\[[0-9;]*m//g' "$T/pouchd.log" | grep -E '^\S+ +(ERROR|WARN) ' | cut -d' ' -f2- | sed 's/^ *//' >"$T/pouchd.err"
[[ -s $T/pouchd.err ]] && echo "- pouchd logged $(wc -l <"$T/pouchd.err") warnings/errors; first: $(head -1 "$T/pouchd.err" | cut -c1-300)"
exit 0
