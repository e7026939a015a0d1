#!/usr/bin/env bash
# Mirror benchmark: fio through mirrored volumes against one-leg volumes in the same run, and a
# resync against nbdcopy of the same number of bytes between the same two nodes.
#
# Three real agents (n0, n1, n2) form a cluster on loopback; each offers a file as a PV (written
# in full first, like a disk). Attached on n0:
#   one     thick 1 GiB, its one leg on n0's PV               (the peer of "m-local")
#   m-local thick 1 GiB, -m 1: legs on n0 and n1              (a local and a remote leg)
#   one-r   thick 1 GiB, its one leg on n1's PV               (the peer of "m-remote")
#   m-remote thick 1 GiB, -m 1: legs on n1 and n2             (two remote legs)
# Every volume is written in full before anything is measured; fio reaches them over n0's NBD
# Unix socket. Each row runs ROUNDS times with the targets in a rotating order; the median is
# reported, with the ratios mirrored / one leg (goal >= 0.8x).
#
# Resync: n1's agent is killed, RESYNC_MIB are written to m-local (so its leg on n1 misses exactly
# that), n1 is started again and the time until the leg is in sync again is measured, with the
# resync unthrottled (volume.resync_mib_per_s 0). The peer: nbdcopy of a scratch PV of that size,
# filled with random bytes, from n0's block service (its Unix socket) to a scratch PV on n1 through
# n1's TCP port with TLS and n0's certificate, as the resync goes; a copy between both Unix sockets
# is printed for scale. Goal: resync >= 0.8x nbdcopy, and only what was written while away copied.
#
# Usage: bench/volume/mirror-bench.sh [SECONDS_PER_RUN] [ROUNDS] [RESYNC_MIB]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
runtime=${1:-5}
rounds=${2:-3}
resync_mib=${3:-512}

for tool in fio nbdcopy python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install ${tool/nbdcopy/libnbd-bin})" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "this fio has no nbd engine (Debian's fio has it)" >&2; exit 1; }

work=$(mktemp -d /tmp/nines-mirror-bench.XXXXXX)
declare -A pid=()
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build cli package
jar="$work/nines.jar"
cp "$root/cli/target/nines.jar" "$jar"
export NINES_CONFIG_DIR="$work/cfg"
unset NINES_TOKEN NINES_AGENT
java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xss1m)
cli() { local port=$1; shift; NINES_AGENT="http://127.0.0.1:$port" "${java_cmd[@]}" -XX:TieredStopAtLevel=1 -jar "$jar" "$@"; }
base=$(bench_free_ports $(seq 0 23))
port() { echo $((base + 10 * $1)); }

# PVs: n0 2 GiB (one, m-local's first leg) + scratch; n1 3 GiB (m-local, one-r, m-remote) + scratch; n2 1 GiB
fill() { fio --name=fill --filename="$1" --size="$2" --rw=write --bs=1M --ioengine=psync --end_fsync=1 --output=/dev/null >/dev/null; }
fill "$work/n0-pv.img" 2112M
fill "$work/n1-pv.img" 3136M
fill "$work/n2-pv.img" 1088M
fill "$work/n0-scratch.img" $((resync_mib + 2))M
fill "$work/n1-scratch.img" $((resync_mib + 2))M

start_agent() {
  local node=$1
  # shellcheck disable=SC2086
  "${java_cmd[@]}" ${NINES_JAVA_OPTS:-} -jar "$jar" agent --name "n$node" --data "$work/n$node" \
    --listen "127.0.0.1:$(port "$node")" >> "$work/n$node.log" 2>&1 &
  pid[$node]=$!
}
wait_health() {
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$(port "$1")/v1/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "n$1 did not answer /v1/health within 60 s; its log:" >&2; tail -n 30 "$work/n$1.log" >&2; exit 1
}
step() { local log=$work/step.log; "$@" > "$log" 2>&1 || { echo "failed: ${*:2}" >&2; cat "$log" >&2; exit 1; }; }
for n in 0 1 2; do start_agent $n; done
for n in 0 1 2; do wait_health $n; done
p0=$(port 0)
step cli "$p0" cluster init --name bench
for n in 1 2; do step cli "$(port $n)" cluster join "127.0.0.1:$p0" --token "$(cat "$work/n0/secret")"; done
for n in 0 1 2; do step cli "$(port $n)" pv create "$work/n$n-pv.img"; done
step cli "$p0" pv create "$work/n0-scratch.img"
step cli "$(port 1)" pv create "$work/n1-scratch.img"
step cli "$p0" vg create vg "n0:$work/n0-pv.img" "n1:$work/n1-pv.img" "n2:$work/n2-pv.img"
step cli "$p0" config set volume.resync_mib_per_s 0
step cli "$p0" lv create -n one -L 1G --on n0 vg
step cli "$p0" lv create -n m-local -L 1G -m 1 --on n0 vg
step cli "$p0" lv create -n one-r -L 1G --on n1 vg
step cli "$p0" lv create -n m-remote -L 1G -m 1 --on n1 vg
legs() { cli "$p0" lv show "vg/$1" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(",".join(l["node"] or "?" for l in v["legs"]) if len(v["legs"]) > 1 else ",".join(v["nodes"]))'; }
[ "$(legs m-local)" = "n0,n1" ] || { echo "m-local legs: $(legs m-local), not n0,n1" >&2; exit 1; }
[ "$(legs m-remote)" = "n1,n2" ] || { echo "m-remote legs: $(legs m-remote), not n1,n2" >&2; exit 1; }
for lv in one m-local one-r m-remote; do step cli "$p0" lv attach "vg/$lv" --node n0; done
sock="$work/n0/nbd.sock"
uri_of() { echo "nbd+unix:///vg/$1?socket=$sock"; }

fio_json() {
  local out
  out=$(fio --name=row --ioengine=nbd "$@" --output-format=json 2>"$work/fio.err") || {
    echo "fio $* failed:" >&2; cat "$work/fio.err" >&2; exit 1; }
  python3 -c '
import json, sys
text = sys.stdin.read()
j = json.loads(text[text.index("{"):])["jobs"][0]
if j["error"]:
    sys.exit("fio reported error %d" % j["error"])
s = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
print("%.0f %.1f" % (s["iops"], s["bw_bytes"] / 1048576))' <<<"$out"
}
fio_run() { fio_json --uri="$(uri_of "$1")" --size=1G --rw="$2" --bs="$3" --iodepth="$4" --time_based --runtime="$5"; }

cat <<EOF
Mirror benchmark: fio (nbd engine, one connection, n0's Unix socket), ${runtime}s per run, median of $rounds rounds.
  one       1 leg on n0            m-local   2 legs: n0 + n1   (ratio m-local / one)
  one-r     1 leg on n1            m-remote  2 legs: n1 + n2   (ratio m-remote / one-r)
  all thick 1 GiB, attached on n0, written in full first; 4k rows in IOPS, 1M rows in MiB/s; goal >= 0.8x
  $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start
EOF
for lv in one m-local one-r m-remote; do
  fio_json --uri="$(uri_of $lv)" --size=1G --rw=write --bs=1M --iodepth=16 --end_fsync=1 >/dev/null
  for rw in randwrite write randread; do fio_run $lv $rw 4k 16 2 >/dev/null; done
done

targets=(one m-local one-r m-remote)
rows=("randwrite 4k 1" "randwrite 4k 16" "write 1M 16" "randread 4k 16" "read 1M 16")
summary="$work/summary"; : > "$summary"
printf "\n%-18s %12s %10s %10s %10s %9s %9s\n" "row" "one" "m-local" "one-r" "m-remote" "ml/one" "mr/one-r"
for row in "${rows[@]}"; do
  read -r rw bs qd <<<"$row"
  declare -A results=()
  for ((round = 0; round < rounds; round++)); do
    for ((i = 0; i < ${#targets[@]}; i++)); do
      t=${targets[$(((i + round) % ${#targets[@]}))]}
      results[$t]+="$(fio_run "$t" "$rw" "$bs" "$qd" "$runtime");"
    done
  done
  python3 - "$rw $bs qd$qd" "$bs" "$summary" "${results[one]}" "${results[m-local]}" "${results[one-r]}" "${results[m-remote]}" <<'PY'
import statistics, sys
name, bs, summary, *runs = sys.argv[1:]
index = 1 if bs == "1M" else 0
unit = "MiB/s" if bs == "1M" else "IOPS"
one, ml, oner, mr = (statistics.median(float(r.split()[index]) for r in t.split(";") if r) for t in runs)
print("%-18s %12s %10.0f %10.0f %10.0f %8.2fx %8.2fx" % (name, "%.0f %s" % (one, unit), ml, oner, mr, ml / one, mr / oner), flush=True)
with open(summary, "a") as f:
    f.write("%s\t%f\t%f\n" % (name, ml / one, mr / oner))
PY
  unset results
done

# ---- resync against nbdcopy ----
# asked with curl, not the CLI: a JVM start per look would let a copy of a few seconds pass between two looks
missed_of() { curl -fsS -H "Authorization: Bearer $(cat "$work/n0/secret")" "http://127.0.0.1:$p0/v1/lvs/vg/m-local" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(max(l["missedBytes"] for l in v["legs"]), ",".join(l["state"] for l in v["legs"]), v["engine"]["copiedBytes"])'; }
kill -9 "${pid[1]}"; wait "${pid[1]}" 2>/dev/null || true
fio_json --uri="$(uri_of m-local)" --size="${resync_mib}M" --rw=write --bs=1M --iodepth=16 --end_fsync=1 >/dev/null
sleep 2
read -r missed states copied_before <<<"$(missed_of)"
start_agent 1; wait_health 1
t0=$(date +%s.%N)
ts=""
while :; do
  read -r left states copied_now <<<"$(missed_of)"
  [ -z "$ts" ] && [ "$copied_now" != "$copied_before" ] && ts=$(date +%s.%N)
  [ "$states" = "in-sync,in-sync" ] && break
  python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 < 600 else 1)" || { echo "resync did not finish in 600 s" >&2; exit 1; }
  sleep 0.1
done
t1=$(date +%s.%N)
[ -n "$ts" ] || ts=$t1
copied=$((copied_now - copied_before))
pv_uri() { cli "$1" pv list --json | python3 -c '
import json, sys
for pv in json.load(sys.stdin):
    if pv["path"].endswith(sys.argv[1]):
        print([u for u in pv["nbdUris"] if u.startswith("nbd+unix")][0])' "$2"; }
src=$(pv_uri "$p0" n0-scratch.img); dst=$(pv_uri "$(port 1)" n1-scratch.img)
# the resync reads its local leg and writes n1's over NBD with TLS (n0's node certificate): the peer does the
# same, reading n0's scratch PV through n0's Unix socket and writing n1's through n1's TCP port with TLS
dst_tls="nbds://127.0.0.1:$(( $(port 1) + 2 ))/${dst#nbd+unix:///}"
dst_tls="${dst_tls%%\?*}?tls-certificates=$work/n0/pki"
c0=$(date +%s.%N)
nbdcopy --request-size=1048576 "$src" "$dst_tls"
c1=$(date +%s.%N)
nbdcopy --request-size=1048576 "$src" "$dst"
c2=$(date +%s.%N)
python3 - "$missed" "$copied" "$t0" "$t1" "$c0" "$c1" "$c2" "$resync_mib" "$summary" "$ts" <<'PY'
import math, sys
missed, copied = int(sys.argv[1]), int(sys.argv[2])
t0, t1, c0, c1, c2 = map(float, sys.argv[3:8])
mib = int(sys.argv[8])
ts = float(sys.argv[10])
# the copy's rate, from its first copied chunk (seen by polling every 0.1 s) to the leg in sync
resync = copied / 1048576 / max(1e-3, t1 - ts)
peer = (mib + 2) / (c1 - c0)
plain = (mib + 2) / (c2 - c1)
print()
print("resync of m-local's leg on n1 after %d MiB were written while n1 was down:" % mib)
print("  missed %.0f MiB, copied back %.0f MiB; in sync %.1f s after n1 answered (its agent start-up excluded),"
      " the copy itself %.1f s: %.0f MiB/s" % (missed / 1048576, copied / 1048576, t1 - t0, t1 - ts, resync))
print("  nbdcopy of %d MiB n0 (Unix socket) -> n1 (TCP, TLS): %.1f s, %.0f MiB/s" % (mib + 2, c1 - c0, peer))
print("  nbdcopy of %d MiB n0 -> n1, both Unix sockets (no TLS; for scale): %.1f s, %.0f MiB/s" % (mib + 2, c2 - c1, plain))
print("  resync / nbdcopy with TLS %.2fx (goal 0.8x): %s; copied / written while away %.2f" % (resync / peer,
      "met" if resync / peer >= 0.8 else "not met", copied / (mib * 1048576)))
rows = [line.split("\t") for line in open(sys.argv[9])]
for col, label in ((1, "m-local vs one"), (2, "m-remote vs one-r")):
    ratios = [float(r[col]) for r in rows]
    geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    met = sum(1 for x in ratios if x >= 0.8)
    print("%-20s %.2fx geomean, worst %.2fx (goal 0.8x): %s" % (label + ":", geo, min(ratios),
          "met" if met == len(ratios) else "not met (%d of %d rows)" % (met, len(ratios))))
PY
