#!/usr/bin/env bash
# AoE physical volume benchmark: fio (nbd engine) through a logical volume whose PV is a remote
# AoE device (Debian's vblade serving a file from a network namespace at the far end of a veth
# pair, reached by the agent's AoeInitiator), beside a logical volume on a local file PV of the
# same agent, in the same run. Both PV files are written in full first and both acknowledge from
# the page cache (vblade without -s, the file PV without FUA), so the rows compare the paths: AoE
# frames through the veth and vblade against pwrite on a file.
# Needs root (namespace, veth, packet sockets), vblade, fio with its nbd engine.
# Usage: bench/aoe/aoe-pv-bench.sh [SECONDS_PER_RUN] [ROUNDS] [MTU]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
runtime=${1:-5}
rounds=${2:-3}
mtu=${3:-9000}
[ "$(id -u)" -eq 0 ] || bench_fail "needs root: a network namespace, a veth pair and packet sockets"
command -v vblade >/dev/null || bench_fail "vblade is needed (apt-get install vblade)"
for tool in fio curl python3; do command -v "$tool" >/dev/null || bench_fail "$tool is needed"; done
fio --enghelp=nbd >/dev/null 2>&1 || bench_fail "this fio has no nbd engine (Debian's fio has it)"

work=$(mktemp -d /tmp/nines-aoe-pv-bench.XXXXXX)
id=$$
ns="aopvb$id"; if_a="aopa$id"; if_v="aopv$id"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip link del "$if_a" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
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
port=$(bench_free_ports 0 1 2)
cli() { NINES_AGENT="http://127.0.0.1:$port" "${java_cmd[@]}" -XX:TieredStopAtLevel=1 -jar "$jar" "$@"; }
step() { local log=$work/step.log; "$@" > "$log" 2>&1 || { echo "failed: $*" >&2; cat "$log" >&2; exit 1; }; }

ip netns add "$ns"
ip link add "$if_a" mtu "$mtu" type veth peer name "$if_v" mtu "$mtu"
ip link set "$if_v" netns "$ns"
ip -n "$ns" link set "$if_v" up
ip link set "$if_a" up

for f in aoe local; do
  fio --name="$f" --filename="$work/$f.img" --size=320M --rw=write --bs=1M --ioengine=psync --end_fsync=1 \
    --output=/dev/null >/dev/null
done
ip netns exec "$ns" vblade 1 1 "$if_v" "$work/aoe.img" > "$work/vblade.log" 2>&1 & pids+=($!)

"${java_cmd[@]}" -jar "$jar" agent --name n0 --data "$work/n0" --listen "127.0.0.1:$port" > "$work/n0.log" 2>&1 & pids+=($!)
agent_pid=$!
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break; sleep 0.5; done
step cli cluster init --name bench
step cli pv create aoe:e1.1 --interface "$if_a"
step cli pv create "$work/local.img"
step cli vg create va "n0:aoe:e1.1@$if_a"
step cli vg create vl "n0:$work/local.img"
step cli lv create -n d -L 256M --on n0 va
step cli lv create -n d -L 256M --on n0 vl
step cli lv attach va/d --node n0
step cli lv attach vl/d --node n0
served=$(cat "$work"/n0.log "$work"/n0/*.log 2>/dev/null | grep -o "served from aoe:.*" | head -1 || true)

uri_of() { echo "nbd+unix:///$1/d?socket=$work/n0/nbd.sock"; }
fio_json() {
  local out
  out=$(fio --name=row --ioengine=nbd "$@" --output-format=json 2>"$work/fio.err") || {
    echo "fio $* failed:" >&2; cat "$work/fio.err" >&2; tail -20 "$work"/n0.log >&2; exit 1; }
  python3 -c '
import json, sys
text = sys.stdin.read()
j = json.loads(text[text.index("{"):])["jobs"][0]
if j["error"]:
    sys.exit("fio reported error %d" % j["error"])
s = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
print("%.0f %.1f" % (s["iops"], s["bw_bytes"] / 1048576))' <<<"$out"
}
for vg in va vl; do   # every chunk mapped and written once, then the JIT warmed up
  fio_json --uri="$(uri_of $vg)" --size=256M --rw=write --bs=1M --iodepth=16 --end_fsync=1 >/dev/null
  for rw in randread randwrite; do fio_json --uri="$(uri_of $vg)" --size=256M --rw=$rw --bs=4k --iodepth=16 --time_based --runtime=2 >/dev/null; done
done

cat <<EOF
AoE PV benchmark: fio (nbd engine) through an LV on an AoE PV (vblade behind a veth, MTU $mtu) and through an
LV on a local file PV of the same agent; ${runtime}s per run, median of $rounds rounds; 4k rows in IOPS, 1M rows in MiB/s.
  ${served:-(the agent did not say how it serves the AoE PV)}
  $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start
EOF
printf '%-18s %10s %10s %7s\n' "row" "aoe" "local" "aoe/local"
median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
for row in "read 1M 16" "write 1M 16" "randread 4k 16" "randwrite 4k 16" "randwrite 4k 1"; do
  read -r rw bs qd <<<"$row"
  a=(); l=()
  for r in $(seq 1 "$rounds"); do
    for vg in $( ((r % 2)) && echo "va vl" || echo "vl va"); do
      read -r iops mib <<<"$(fio_json --uri="$(uri_of $vg)" --size=256M --rw="$rw" --bs="$bs" --iodepth="$qd" --time_based --runtime="$runtime")"
      v=$([ "$bs" = 1M ] && echo "$mib" || echo "$iops")
      if [ $vg = va ]; then a+=("$v"); else l+=("$v"); fi
    done
  done
  ma=$(median "${a[@]}"); ml=$(median "${l[@]}")
  printf '%-18s %10.0f %10.0f %7.2f\n' "$rw $bs qd$qd" "$ma" "$ml" "$(python3 -c "print($ma / max($ml, 1e-9))")"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
kill "$agent_pid" 2>/dev/null || true
