#!/usr/bin/env bash
# NBD server benchmark: fio rows against our server, qemu-nbd and nbdkit serving the same
# file in the same run, and the raw file as the limit. All from the page cache (like with
# like); loopback TCP only. Each row runs ROUNDS times with the targets in a rotating order and
# reports the median, because a shared machine's load moves single runs by tens of percent.
# Usage: bench/nbd/bench.sh [SECONDS_PER_RUN] [FILE_SIZE] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
runtime=${1:-5}
size=${2:-1G}
rounds=${3:-3}
work=$(mktemp -d /tmp/nines-nbd-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

command -v fio >/dev/null && fio --enghelp=nbd >/dev/null 2>&1 || {
  echo "fio with its nbd engine is needed (Debian's fio has it: apt-get install fio)" >&2; exit 1; }
bench_build block install
cp=$(bench_classpath block)
file="$work/disk.img"
fio --name=fill --filename="$file" --size="$size" --rw=write --bs=1M --ioengine=psync --output=/dev/null >/dev/null
cat "$file" > /dev/null   # warm the page cache for every target alike

port_ours=$((20000 + RANDOM % 10000)); port_qemu=$((port_ours + 1)); port_kit=$((port_ours + 2))
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -cp "$root/block/target/classes:$cp" \
  fivenines.block.nbd.ServeFile "$file" --port "$port_ours" --name disk > "$work/ours.log" 2>&1 & pids+=($!)
qemu-nbd -f raw -x disk -b 127.0.0.1 -p "$port_qemu" --persistent --shared=32 --cache=writeback "$file" & pids+=($!)
nbdkit -f -i 127.0.0.1 -p "$port_kit" --exportname=disk file "$file" & pids+=($!)
sleep 3

fio_run() { # target rw bs qd seconds -> "iops MiB/s"
  local target=$1 rw=$2 bs=$3 qd=$4 seconds=$5 args
  case $target in
    raw) args=(--ioengine=io_uring --filename="$file") ;;
    ours) args=(--ioengine=nbd --uri="nbd://127.0.0.1:$port_ours/disk") ;;
    qemu) args=(--ioengine=nbd --uri="nbd://127.0.0.1:$port_qemu/disk") ;;
    nbdkit) args=(--ioengine=nbd --uri="nbd://127.0.0.1:$port_kit/disk") ;;
  esac
  fio --name=row "${args[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" --size="$size" --time_based --runtime="$seconds" \
      --output-format=json 2>/dev/null | python3 -c '
import json,sys
text=sys.stdin.read()
j=json.loads(text[text.index("{"):])["jobs"][0]
s=j["read"] if j["read"]["io_bytes"]>0 else j["write"]
print("%.0f %.1f" % (s["iops"], s["bw_bytes"]/1048576))'
}

# warm-up: the JIT compiles our server's paths before anything is measured
for rw in randread randwrite read write; do fio_run ours "$rw" 4k 16 2 >/dev/null; done

targets=(ours qemu nbdkit raw)
rows=("randread 4k 1" "randread 4k 16" "randwrite 4k 1" "randwrite 4k 16" "read 1M 1" "read 1M 16" "write 1M 1" "write 1M 16")
printf "%-18s %14s %10s %10s %10s %9s %8s\n" "row" "fivenines" "qemu-nbd" "nbdkit" "raw file" "vs best" "vs raw"
for row in "${rows[@]}"; do
  read -r rw bs qd <<<"$row"
  declare -A results=()
  for ((round = 0; round < rounds; round++)); do
    for ((i = 0; i < ${#targets[@]}; i++)); do
      target=${targets[$(((i + round) % ${#targets[@]}))]}
      results[$target]+="$(fio_run "$target" "$rw" "$bs" "$qd" "$runtime");"
    done
  done
  python3 - "$rw $bs qd$qd" "$bs" "${results[ours]}" "${results[qemu]}" "${results[nbdkit]}" "${results[raw]}" <<'PY'
import statistics, sys
name, bs, *runs = sys.argv[1:]
index = 1 if bs == "1M" else 0
unit = "MiB/s" if bs == "1M" else "IOPS"
o, q, k, r = (statistics.median(float(run.split()[index]) for run in target.split(";") if run) for target in runs)
best = max(q, k)
print("%-18s %14s %10.0f %10.0f %10.0f %8.2fx %7.2fx" % (name, "%.0f %s" % (o, unit), q, k, r, o / best, o / r))
PY
  unset results
done
