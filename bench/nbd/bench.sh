#!/usr/bin/env bash
# NBD server benchmark: fio rows against our server, qemu-nbd and nbdkit serving the same
# file in the same run, and the raw file as the limit. All from the page cache (like with
# like); loopback TCP only. Usage: bench/nbd/bench.sh [SECONDS_PER_ROW] [FILE_SIZE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
runtime=${1:-5}
size=${2:-1G}
work=$(mktemp -d /tmp/nines-nbd-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && mvn -q -B -o -DskipTests -pl block -am install >/dev/null 2>&1 || mvn -q -B -DskipTests -pl block -am install >/dev/null)
cp=$(cd "$root" && mvn -q -o -pl block dependency:build-classpath -Dmdep.outputFile=/dev/stdout)
file="$work/disk.img"
fio --name=fill --filename="$file" --size="$size" --rw=write --bs=1M --ioengine=psync --output=/dev/null >/dev/null
cat "$file" > /dev/null   # warm the page cache for every target alike

port_ours=$((20000 + RANDOM % 10000)); port_qemu=$((port_ours + 1)); port_kit=$((port_ours + 2))
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -cp "$root/block/target/classes:$cp" \
  fivenines.block.nbd.ServeFile "$file" --port "$port_ours" --name disk > "$work/ours.log" 2>&1 & pids+=($!)
qemu-nbd -f raw -x disk -b 127.0.0.1 -p "$port_qemu" --persistent --shared=32 --cache=writeback "$file" & pids+=($!)
nbdkit -f -i 127.0.0.1 -p "$port_kit" --exportname=disk file "$file" & pids+=($!)
sleep 3

rows=("randread 4k 1" "randread 4k 16" "randwrite 4k 1" "randwrite 4k 16" "read 1M 1" "read 1M 16" "write 1M 1" "write 1M 16")
fio_row() { # target rw bs qd -> "iops MiB/s"
  local target=$1 rw=$2 bs=$3 qd=$4 args
  if [ "$target" = raw ]; then
    args=(--ioengine=io_uring --filename="$file")
  else
    args=(--ioengine=nbd --uri="nbd://127.0.0.1:$target/disk")
  fi
  fio --name=row "${args[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" --size="$size" --time_based --runtime="$runtime" \
      --output-format=json 2>/dev/null | python3 -c '
import json,sys
text=sys.stdin.read()
j=json.loads(text[text.index("{"):])["jobs"][0]
s=j["read"] if j["read"]["io_bytes"]>0 else j["write"]
print("%.0f %.1f" % (s["iops"], s["bw_bytes"]/1048576))'
}

printf "%-18s %14s %14s %14s %14s %10s %9s\n" "row" "fivenines" "qemu-nbd" "nbdkit" "raw file" "vs best" "vs raw"
for row in "${rows[@]}"; do
  read -r rw bs qd <<<"$row"
  ours=$(fio_row "$port_ours" "$rw" "$bs" "$qd"); qemu=$(fio_row "$port_qemu" "$rw" "$bs" "$qd")
  kit=$(fio_row "$port_kit" "$rw" "$bs" "$qd"); raw=$(fio_row raw "$rw" "$bs" "$qd")
  unit=IOPS; idx=1; [ "$bs" = 1M ] && { unit=MiB/s; idx=2; }
  pick() { echo "$1" | cut -d' ' -f"$idx"; }
  o=$(pick "$ours"); q=$(pick "$qemu"); k=$(pick "$kit"); r=$(pick "$raw")
  python3 - "$rw $bs qd$qd" "$o" "$q" "$k" "$r" "$unit" <<'PY'
import sys
name,o,q,k,r,unit=sys.argv[1],*map(float,sys.argv[2:6]),sys.argv[6]
best=max(q,k)
print("%-18s %14s %14s %14s %14s %9.2fx %8.2fx" % (name, "%.0f %s"%(o,unit), "%.0f"%q, "%.0f"%k, "%.0f"%r, o/best if best else 0, o/r if r else 0))
PY
done
