#!/usr/bin/env bash
# AoE target benchmark: our target (fivenines.block.aoe.AoeServeFile) against vblade -s serving
# the same file, in the same run, through the same initiator (fivenines.bench.aoe.AoeLoad, an
# AoE initiator on a packet socket: this machine's kernel has no aoe module). Target and
# initiator sit in two network namespaces of their own joined by a veth pair (jumbo frames by
# default); no address is configured, only AoE frames travel. Both targets make every
# acknowledged write durable: ours flushes before it replies (one flush for all the writes in
# flight), vblade -s opens the file O_SYNC. Two more columns show what durability costs: ours
# with --no-flush and vblade without -s (writes acknowledged from the page cache).
# Each row runs ROUNDS times with the targets in a rotating order; the median is reported. Each run
# follows a second of the same load that is not counted, so every target is measured in steady state.
# Needs root (namespaces, packet sockets), vblade (Debian's vblade).
# Usage: bench/aoe/aoe-bench.sh [SECONDS_PER_RUN] [FILE_SIZE] [ROUNDS] [MTU]
# AOE_BENCH_ROWS="rw bs qd;..." runs only the rows named; AOE_BENCH_TARGETS="ours vblade-s" only the
# targets named; AOE_BENCH_TARGET_OPTS adds JVM options to our target (-Xlog:gc, a flight recording).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
runtime=${1:-5}
size=${2:-256M}
rounds=${3:-3}
mtu=${4:-9000}
[ "$(id -u)" -eq 0 ] || bench_fail "needs root: network namespaces and packet sockets"
command -v vblade >/dev/null || bench_fail "vblade is needed (apt-get install vblade; scripts/install-deps brings it)"
work=$(mktemp -d /tmp/nines-aoe-bench.XXXXXX)
id=$$
ns_t="aoebt$id"; ns_i="aoebi$id"; if_t="aobt$id"; if_i="aobi$id"
target_pid=""
cleanup() {
  local p
  for p in $(ip netns pids "$ns_t" 2>/dev/null) $(ip netns pids "$ns_i" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  ip netns del "$ns_t" 2>/dev/null || true
  ip netns del "$ns_i" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cp=$(bench_build_classpath bench)
cp="$root/bench/target/classes:$cp"
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -cp "$cp")

ip netns add "$ns_t"; ip netns add "$ns_i"
ip link add "$if_t" mtu "$mtu" type veth peer name "$if_i" mtu "$mtu"
ip link set "$if_t" netns "$ns_t"; ip link set "$if_i" netns "$ns_i"
ip -n "$ns_t" link set "$if_t" up; ip -n "$ns_i" link set "$if_i" up

file="$work/disk.img"
dd if=/dev/urandom of="$file" bs=1M count="$(numfmt --from=iec "$size" | awk '{print int($1/1048576)}')" status=none
cat "$file" > /dev/null   # in the page cache for every target alike

start_target() { # name -> sets target_pid, serving e1.1 on $if_t
  local cmd
  case $1 in
    ours)        cmd=("${java[@]}" ${AOE_BENCH_TARGET_OPTS:-} fivenines.block.aoe.AoeServeFile "$file" --interface "$if_t" --shelf 1 --slot 1) ;;
    ours-nosync) cmd=("${java[@]}" ${AOE_BENCH_TARGET_OPTS:-} fivenines.block.aoe.AoeServeFile "$file" --interface "$if_t" --shelf 1 --slot 1 --no-flush) ;;
    vblade-s)    cmd=(vblade -s 1 1 "$if_t" "$file") ;;
    vblade)      cmd=(vblade 1 1 "$if_t" "$file") ;;
  esac
  ip netns exec "$ns_t" "${cmd[@]}" > "$work/$1.log" 2>&1 &
  target_pid=$!
}
stop_target() { # every process in the target namespace: one target at a time answers e1.1
  local p
  for p in $(ip netns pids "$ns_t" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait "$target_pid" 2>/dev/null || true
  for p in $(ip netns pids "$ns_t" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  target_pid=""
  # a target that acknowledged from the page cache leaves dirty pages: written back here, not
  # while the next target runs (its durable writes would wait behind that writeback)
  sync "$file"
}
load() { # rw bs qd -> "iops mibs"
  ip netns exec "$ns_i" "${java[@]}" fivenines.bench.aoe.AoeLoad "$if_i" 1 1 "$1" "$2" "$3" "$runtime" 2>"$work/load.err" \
    | awk '/^iops/ {print $2, $4, $6}'
}
warm() { # the same load for a second, not counted: a target in steady state (ours compiles its hot code first)
  ip netns exec "$ns_i" "${java[@]}" fivenines.bench.aoe.AoeLoad "$if_i" 1 1 "$1" "$2" "$3" 1 >/dev/null 2>&1 || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }

read -r -a targets <<< "${AOE_BENCH_TARGETS:-ours vblade-s ours-nosync vblade}"
rows=("read 65536 8" "write 65536 8" "randread 4096 8" "randread 4096 1" "randwrite 4096 8" "randwrite 4096 1" "randwrite 4096 32")
if [ -n "${AOE_BENCH_ROWS:-}" ]; then # e.g. AOE_BENCH_ROWS="randwrite 4096 1;randread 4096 8": only those rows
  IFS=';' read -r -a rows <<<"$AOE_BENCH_ROWS"
fi
declare -A result
echo "AoE over a veth pair, MTU $mtu, file $size (page cache warm), ${runtime}s a run, $rounds rounds (median)"
echo "load before: $(uptime)"
for row in "${rows[@]}"; do
  read -r rw bs qd <<<"$row"
  for r in $(seq 1 "$rounds"); do
    n=${#targets[@]}
    for k in $(seq 0 $((n - 1))); do
      t=${targets[$(( (k + r) % n ))]}
      start_target "$t"; sleep 2
      warm "$rw" "$bs" "$qd"
      out=$(load "$rw" "$bs" "$qd")
      stop_target
      read -r iops mibs errors <<<"${out:-0 0 1}"
      [ "${errors:-1}" = "0" ] || echo "  $t $row: errors $errors ($(head -c 300 "$work/load.err"))" >&2
      result["$row|$t"]+="$iops "
    done
  done
done
printf "%-22s %10s %10s %8s   %12s %10s   (IOPS, median of %s)\n" "row (rw bs qd)" "ours" "vblade -s" "ratio" "ours no-sync" "vblade" "$rounds"
for row in "${rows[@]}"; do
  declare -A med=()
  for t in "${targets[@]}"; do
    med[$t]=$(tr ' ' '\n' <<<"${result["$row|$t"]}" | grep -v '^$' | median)
  done
  ratio=$(awk -v a="${med[ours]:-0}" -v b="${med[vblade-s]:-0}" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / b}')
  printf "%-22s %10s %10s %8s   %12s %10s\n" "$row" "${med[ours]:--}" "${med[vblade-s]:--}" "$ratio" "${med[ours-nosync]:--}" "${med[vblade]:--}"
done
echo "load after: $(uptime)"
