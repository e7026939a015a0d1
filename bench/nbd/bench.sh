#!/usr/bin/env bash
# NBD server benchmark: fio rows against our server, qemu-nbd and nbdkit serving the same
# file in the same run, and the raw file as the limit. All from the page cache (like with
# like), over loopback TCP or Unix sockets only.
#
# Usage: bench/nbd/bench.sh [SECONDS_PER_ROW] [FILE_SIZE]
#   TRANSPORT=unix   serve and measure over Unix sockets instead of loopback TCP
#   ROWS="randread,4k,16 write,1M,1"   only these rows (rw,block size,queue depth)
#
# Besides throughput it prints each server's CPU time per I/O (user + system, from
# /proc/PID/stat): on a machine shared with other work, throughput moves with whatever else
# runs, while the CPU a server spends on each request is what its design costs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
runtime=${1:-5}
size=${2:-1G}
transport=${TRANSPORT:-tcp}
rows=${ROWS:-"randread,4k,1 randread,4k,16 randwrite,4k,1 randwrite,4k,16 read,1M,1 read,1M,16 write,1M,1 write,1M,16"}
work=$(mktemp -d /tmp/nines-nbd-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && mvn -q -B -o -DskipTests -pl block -am install >/dev/null 2>&1 || mvn -q -B -DskipTests -pl block -am install >/dev/null)
cp=$(cd "$root" && mvn -q -o -pl block dependency:build-classpath -Dmdep.outputFile=/dev/stdout 2>/dev/null)
file="$work/disk.img"
fio --name=fill --filename="$file" --size="$size" --rw=write --bs=1M --ioengine=psync --output=/dev/null >/dev/null
cat "$file" > /dev/null   # warm the page cache for every target alike

port=$((20000 + RANDOM % 10000))
declare -A uri pid
if [ "$transport" = unix ]; then
  ours=(--port 0 --socket "$work/ours.sock"); uri[ours]="nbd+unix:///disk?socket=$work/ours.sock"
  qemu=(-k "$work/qemu.sock");               uri[qemu]="nbd+unix:///disk?socket=$work/qemu.sock"
  kit=(-U "$work/kit.sock");                 uri[kit]="nbd+unix:///disk?socket=$work/kit.sock"
else
  ours=(--port "$port");                     uri[ours]="nbd://127.0.0.1:$port/disk"
  qemu=(-b 127.0.0.1 -p $((port + 1)));      uri[qemu]="nbd://127.0.0.1:$((port + 1))/disk"
  kit=(-i 127.0.0.1 -p $((port + 2)));       uri[kit]="nbd://127.0.0.1:$((port + 2))/disk"
fi
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -cp "$root/block/target/classes:$cp" \
  fivenines.block.nbd.ServeFile "$file" "${ours[@]}" --name disk > "$work/ours.log" 2>&1 & pid[ours]=$!
qemu-nbd -f raw -x disk "${qemu[@]}" --persistent --shared=32 --cache=writeback "$file" & pid[qemu]=$!
nbdkit -f "${kit[@]}" --exportname=disk file "$file" & pid[kit]=$!
pids+=("${pid[@]}")
sleep 3

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
fio_row() { # target rw bs qd seconds -> "iops MiB/s server-cpu-us-per-io"
  local target=$1 rw=$2 bs=$3 qd=$4 seconds=$5 args before=0 after=0
  if [ "$target" = raw ]; then
    # one request at a time is plain pread/pwrite at its fastest; deeper queues need io_uring
    if [ "$qd" = 1 ]; then args=(--ioengine=psync --filename="$file"); else args=(--ioengine=io_uring --filename="$file"); fi
  else
    args=(--ioengine=nbd --uri="${uri[$target]}")
    before=$(cpu_ticks "${pid[$target]}")
  fi
  local out
  out=$(fio --name=row "${args[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" --size="$size" --time_based \
      --runtime="$seconds" --output-format=json 2>/dev/null)
  [ "$target" = raw ] || after=$(cpu_ticks "${pid[$target]}")
  echo "$out" | python3 -c '
import json, os, sys
text = sys.stdin.read()
job = json.loads(text[text.index("{"):])["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
ticks = int(sys.argv[1]); hz = os.sysconf("SC_CLK_TCK")
print("%.0f %.1f %.1f" % (side["iops"], side["bw_bytes"] / 1048576, ticks * 1e6 / hz / max(1, side["total_ios"])))' \
    $((after - before))
}

# the JIT compiles our server's hot paths in its first seconds: warm every server alike
for target in ours qemu kit; do
  fio_row "$target" randread 4k 16 2 >/dev/null; fio_row "$target" randwrite 4k 16 2 >/dev/null
done

echo "transport: $transport, $runtime s per row, file $size in the page cache"
printf "%-17s %11s %9s %9s %9s %8s %8s | %s\n" "row" "fivenines" "qemu-nbd" "nbdkit" "raw file" "vs best" "vs raw" \
  "server CPU us/IO: fivenines qemu-nbd nbdkit"
for row in $rows; do
  IFS=, read -r rw bs qd <<<"$row"
  o=$(fio_row ours "$rw" "$bs" "$qd" "$runtime"); q=$(fio_row qemu "$rw" "$bs" "$qd" "$runtime")
  k=$(fio_row kit "$rw" "$bs" "$qd" "$runtime"); r=$(fio_row raw "$rw" "$bs" "$qd" "$runtime")
  python3 - "$rw $bs qd$qd" "$bs" "$o" "$q" "$k" "$r" <<'PY'
import sys
name, bs = sys.argv[1], sys.argv[2]
o, q, k, r = ([float(x) for x in s.split()] for s in sys.argv[3:7])
i, unit = (1, "MiB/s") if bs.upper().endswith("M") else (0, "IOPS")
best = max(q[i], k[i])
print("%-17s %11s %9.0f %9.0f %9.0f %7.2fx %7.2fx | %8.1f %8.1f %8.1f" % (name, "%.0f %s" % (o[i], unit), q[i], k[i], r[i],
      o[i] / best if best else 0, o[i] / r[i] if r[i] else 0, o[2], q[2], k[2]))
PY
done
