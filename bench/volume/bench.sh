#!/usr/bin/env bash
# Volume benchmark: fio through attached logical volumes against the plain export of a physical
# volume and qemu-nbd, side by side in one run, on loopback only.
# The agents' exports are read through n0's Unix socket (their TCP port serves only TLS clients with a
# node certificate of the cluster); the remote volume's chunks go from n0 to n1 over NBD with TLS.
#
# Two real agents (n0, n1) form a cluster; each offers a file as a PV; one volume group spans
# both. On n0 are attached: vg/local (thick, every chunk on n0's PV: the engine writes the file
# itself) and vg/remote (thick, every chunk on n1's PV: reached through n1's block service over
# NBD). Peers in the same run: the plain export of n0's PV (pv-ID, by n0's block service), over a
# 1 GiB range reserved by a thick volume that is never attached, and qemu-nbd serving a 1 GiB raw
# file. Every target is written in full before anything is measured (thick volumes map their
# chunks on first write too), so the rows measure allocated I/O from the page cache. Each row
# runs ROUNDS times with the targets in a rotating order; the median is reported.
#
# Then the first-write path of thin volumes: per round a new thin volume is attached on n0 and
# written where it was never written (every 1 MiB chunk a first write), then the same job again
# over the same, now allocated, range; both passes end with a flush (which commits the new
# chunks to the store). The PV files are written in full before 'pv create', as a disk would be:
# otherwise the first-write figures would mostly measure the filesystem allocating blocks in a
# sparse file, which the plain export pays just the same.
#
# Goals (issue): local >= 0.9x the plain export, remote >= 0.7x, thin first write >= 0.5x of
# allocated writes.
#
# Usage: bench/volume/bench.sh [SECONDS_PER_RUN] [ROUNDS]
# NINES_JAVA_OPTS is passed to both agents (for example a -XX:StartFlightRecording=... to profile).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
runtime=${1:-5}
rounds=${2:-3}

for tool in fio qemu-nbd python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install ${tool/qemu-nbd/qemu-utils})" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || {
  echo "this fio has no nbd engine (Debian's fio has it: apt-get install fio)" >&2; exit 1; }

work=$(mktemp -d /tmp/nines-volume-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One jar for the whole run: a copy, so that a rebuild by someone else in the meantime changes nothing here.
bench_build cli package
jar="$work/nines.jar"
cp "$root/cli/target/nines.jar" "$jar"
export NINES_CONFIG_DIR="$work/cfg"   # where the agents announce themselves and the CLI finds their secrets
unset NINES_TOKEN NINES_AGENT
java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xss1m)
cli() { local port=$1; shift; NINES_AGENT="http://127.0.0.1:$port" "${java_cmd[@]}" -XX:TieredStopAtLevel=1 -jar "$jar" "$@"; }

p0=$(bench_free_ports 0 1 2 10 11 12 20); p1=$((p0 + 10)); port_qemu=$((p0 + 20))
nbd0=$((p0 + 2))

# ---- files: the PVs and qemu-nbd's disk ----
# n0: vg/local 1G, vg/plain 1G, one thin volume at a time (2G); n1: vg/remote 1G; 64M to spare
# (a PV's first MiB is its label). Written in full and synced first, like a disk: no block
# allocation by the filesystem during the measurements, no writeback of it either.
fio --name=pv0 --filename="$work/n0-pv.img" --size=4160M --rw=write --bs=1M --ioengine=psync --end_fsync=1 \
  --output=/dev/null >/dev/null
fio --name=pv1 --filename="$work/n1-pv.img" --size=1088M --rw=write --bs=1M --ioengine=psync --end_fsync=1 \
  --output=/dev/null >/dev/null
qemu_file="$work/qemu.img"
fio --name=fill --filename="$qemu_file" --size=1G --rw=write --bs=1M --ioengine=psync --end_fsync=1 --output=/dev/null >/dev/null

# ---- cluster ----
for node in 0 1; do
  port=$((node == 0 ? p0 : p1))
  # shellcheck disable=SC2086
  "${java_cmd[@]}" ${NINES_JAVA_OPTS:-} -jar "$jar" agent --name "n$node" --data "$work/n$node" \
    --listen "127.0.0.1:$port" > "$work/n$node.log" 2>&1 & pids+=($!)
done
wait_health() {
  local port=$1
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the agent on port $port did not answer /v1/health within 60 s; its log:" >&2
  tail -n 30 "$work"/n*.log >&2
  exit 1
}
wait_health "$p0"; wait_health "$p1"
step() { local log=$work/step.log; "$@" > "$log" 2>&1 || { echo "failed: ${*:2}" >&2; cat "$log" >&2; exit 1; }; }
step cli "$p0" cluster init --name bench
step cli "$p1" cluster join "127.0.0.1:$p0" --token "$(cat "$work/n0/secret")"
step cli "$p0" pv create "$work/n0-pv.img"
step cli "$p1" pv create "$work/n1-pv.img"
step cli "$p0" vg create vg "n0:$work/n0-pv.img" "n1:$work/n1-pv.img"
# n0's PV: chunks are taken lowest first, so vg/local holds its first GiB and vg/plain (never
# attached) the second one, which the plain-export rows use; thin volumes get the rest.
step cli "$p0" lv create -n local -L 1G --on n0 vg
step cli "$p0" lv create -n plain -L 1G --on n0 vg
step cli "$p0" lv create -n remote -L 1G --on n1 vg
step cli "$p0" lv attach vg/local --node n0
step cli "$p0" lv attach vg/remote --node n0
pv_uri=$(cli "$p0" pv list --json | python3 -c '
import json, sys
for pv in json.load(sys.stdin):
    if pv["node"] == "n0":
        print([u for u in pv["nbdUris"] if u.startswith("nbd+unix://")][0])')
placement() { # VG/LV -> its bytesByPhysicalVolume, one line
  cli "$p0" lv show "$1" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(", ".join("%s %.0f MiB" % (pv, b / 1048576) for pv, b in v["bytesByPhysicalVolume"].items()))'
}
local_on=$(placement vg/local); remote_on=$(placement vg/remote); plain_on=$(placement vg/plain)
[[ $local_on == "n0:"* && $local_on != *"n1:"* ]] || { echo "vg/local is not all on n0: $local_on" >&2; exit 1; }
[[ $remote_on == "n1:"* && $remote_on != *"n0:"* ]] || { echo "vg/remote is not all on n1: $remote_on" >&2; exit 1; }
[[ $plain_on == "n0:"* && $plain_on != *"n1:"* ]] || { echo "vg/plain is not all on n0: $plain_on" >&2; exit 1; }

qemu-nbd -f raw -x disk -b 127.0.0.1 -p "$port_qemu" --persistent --shared=32 --cache=writeback "$qemu_file" \
  2> "$work/qemu-nbd.log" & pids+=($!)
for _ in $(seq 1 100); do bench_port_free "$port_qemu" || break; sleep 0.1; done
agents=("${pids[0]}" "${pids[1]}"); qemu_pid=${pids[2]}

uri_of() {
  case $1 in
    local) echo "nbd+unix:///vg/local?socket=$work/n0/nbd.sock" ;;
    remote) echo "nbd+unix:///vg/remote?socket=$work/n0/nbd.sock" ;;
    pv) echo "$pv_uri" ;;
    qemu) echo "nbd://127.0.0.1:$port_qemu/disk" ;;
  esac
}
offset_of() { [ "$1" = pv ] && echo 1G || echo 0; }   # the plain export: vg/plain's GiB of n0's PV

cpu_ticks() { local total=0 p; for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $total; }
hz=$(getconf CLK_TCK)
fio_json() { # fio arguments... -> "iops MiB/s ios" of the job's (read or write) side
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
print("%.0f %.1f %d" % (s["iops"], s["bw_bytes"] / 1048576, s["total_ios"]))' <<<"$out"
}
fio_run() { # target rw bs qd seconds -> "iops MiB/s cpu-us-per-io" (CPU of both agents, or of qemu-nbd)
  local servers before result iops mib ios
  if [ "$1" = qemu ]; then servers=("$qemu_pid"); else servers=("${agents[@]}"); fi
  before=$(cpu_ticks "${servers[@]}")
  result=$(fio_json --uri="$(uri_of "$1")" --offset="$(offset_of "$1")" --size=1G --rw="$2" --bs="$3" --iodepth="$4" \
    --time_based --runtime="$5")
  read -r iops mib ios <<<"$result"
  echo "$iops $mib $(python3 -c "print('%.1f' % (1e6 * ($(cpu_ticks "${servers[@]}") - $before) / $hz / max($ios, 1)))")"
}

cat <<EOF
Volume benchmark: fio (nbd engine, one connection) on loopback, ${runtime}s per run, median of $rounds rounds.
  local   vg/local attached on n0, chunks on n0's PV ($local_on)
  remote  vg/remote attached on n0, chunks on n1's PV ($remote_on), through n1's block service
  PV      the plain export of n0's PV (same agent, same file), over the GiB reserved by vg/plain
  qemu    qemu-nbd --cache=writeback serving a 1 GiB raw file
  all 1 GiB, written in full first (allocated I/O from the page cache); 4k rows in IOPS, 1M rows in MiB/s
  l/PV = local / PV (goal >= 0.9), r/PV = remote / PV (goal >= 0.7), l/qemu = local / qemu-nbd
  $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start
EOF

# prefill: every chunk of the volumes mapped, every byte of every target written, then flushed
for target in local remote pv; do
  fio_json --uri="$(uri_of "$target")" --offset="$(offset_of "$target")" --size=1G --rw=write --bs=1M --iodepth=16 \
    --end_fsync=1 >/dev/null
done
# warm-up: the JIT compiles the agents' paths before anything is measured, the first-write path too
for target in local remote pv; do
  for rw in randread randwrite read write; do fio_run "$target" "$rw" 4k 16 2 >/dev/null; done
  fio_run "$target" write 1M 16 2 >/dev/null
done
step cli "$p0" lv create -n warm -L 512M --thin --on n0 vg
step cli "$p0" lv attach vg/warm --node n0
fio_json --uri="nbd+unix:///vg/warm?socket=$work/n0/nbd.sock" --size=256M --rw=write --bs=1M --iodepth=16 --end_fsync=1 >/dev/null
fio_json --uri="nbd+unix:///vg/warm?socket=$work/n0/nbd.sock" --offset=256M --size=256M --rw=write:1020k --bs=4k --iodepth=16 \
  --end_fsync=1 >/dev/null
step cli "$p0" lv detach vg/warm
step cli "$p0" lv remove vg/warm

targets=(local remote pv qemu)
rows=("randread 4k 1" "randread 4k 16" "randwrite 4k 1" "randwrite 4k 16" "read 1M 1" "read 1M 16" "write 1M 1" "write 1M 16")
summary="$work/summary"
: > "$summary"
printf "\n%-18s %12s %10s %10s %10s %7s %7s %7s\n" "row" "local" "remote" "PV" "qemu-nbd" "l/PV" "r/PV" "l/qemu"
for row in "${rows[@]}"; do
  read -r rw bs qd <<<"$row"
  declare -A results=()
  for ((round = 0; round < rounds; round++)); do
    for ((i = 0; i < ${#targets[@]}; i++)); do
      target=${targets[$(((i + round) % ${#targets[@]}))]}
      results[$target]+="$(fio_run "$target" "$rw" "$bs" "$qd" "$runtime");"
    done
  done
  python3 - "$rw $bs qd$qd" "$bs" "$summary" "${results[local]}" "${results[remote]}" "${results[pv]}" "${results[qemu]}" <<'PY'
import statistics, sys
name, bs, summary, *runs = sys.argv[1:]
index = 1 if bs == "1M" else 0
unit = "MiB/s" if bs == "1M" else "IOPS"
def median(target, i):
    return statistics.median(float(run.split()[i]) for run in target.split(";") if run)
l, r, p, q = (median(target, index) for target in runs)
cpu = [median(target, 2) for target in runs]
print("%-18s %12s %10.0f %10.0f %10.0f %6.2fx %6.2fx %6.2fx" % (name, "%.0f %s" % (l, unit), r, p, q, l / p, r / p, l / q),
      flush=True)
with open(summary, "a") as f:
    f.write("%s\t%f\t%f\t%f\t%s\n" % (name, l / p, r / p, l / q, "\t".join("%.1f" % c for c in cpu)))
PY
  unset results
done

# CPU per request: steadier than throughput on a busy machine (and what the throughput costs)
printf "\nserver CPU per request, microseconds (both agents for local, remote and PV; qemu-nbd for qemu-nbd)\n"
printf "%-18s %12s %10s %10s %10s %7s %7s\n" "row" "local" "remote" "PV" "qemu-nbd" "l/PV" "r/PV"
python3 - "$summary" <<'PY'
import sys
for line in open(sys.argv[1]):
    name, _, _, _, l, r, p, q = line.rstrip("\n").split("\t")
    l, r, p, q = map(float, (l, r, p, q))
    print("%-18s %12.1f %10.1f %10.1f %10.1f %6.2fx %6.2fx" % (name, l, r, p, q, l / p, r / p))
PY

# ---- thin volumes: first writes against writes to the same, now allocated, range ----
printf "\nthin volume attached on n0: first writes (never written, every 1 MiB chunk new) against the same job again\n"
printf "(allocated); a new volume each round, median of %s rounds; both passes end with a flush\n" "$rounds"
printf "%-36s %14s %14s %7s\n" "row" "first write" "allocated" "ratio"
declare -A thin=()
for ((round = 0; round < rounds; round++)); do
  step cli "$p0" lv create -n "thin$round" -L 2G --thin --on n0 vg
  step cli "$p0" lv attach "vg/thin$round" --node n0
  uri="nbd+unix:///vg/thin$round?socket=$work/n0/nbd.sock"
  # 1 MiB sequential writes over [0, 1G): each a whole new chunk
  whole=(--uri="$uri" --offset=0 --size=1G --rw=write --bs=1M --iodepth=16 --end_fsync=1)
  thin[seq_first]+="$(fio_json "${whole[@]}");"
  thin[seq_again]+="$(fio_json "${whole[@]}");"
  # one 4 KiB write in each 1 MiB chunk of [1G, 2G): a new chunk whose other 1020 KiB must read as zeroes
  small=(--uri="$uri" --offset=1G --size=1G --rw=write:1020k --bs=4k --iodepth=16 --end_fsync=1)
  thin[small_first]+="$(fio_json "${small[@]}");"
  thin[small_again]+="$(fio_json "${small[@]}");"
  [ "$round" -gt 0 ] || thin_on=$(placement "vg/thin$round")
  step cli "$p0" lv detach "vg/thin$round"
  step cli "$p0" lv remove "vg/thin$round"
done
python3 - "$summary" "${thin[seq_first]}" "${thin[seq_again]}" "${thin[small_first]}" "${thin[small_again]}" <<'PY'
import statistics, sys
summary, *runs = sys.argv[1:]
def median(runs, index):
    return statistics.median(float(run.split()[index]) for run in runs.split(";") if run)
sf, sa = median(runs[0], 1), median(runs[1], 1)
wf, wa = median(runs[2], 0), median(runs[3], 0)
print("%-36s %14s %14s %6.2fx" % ("write 1M qd16, 1 GiB (MiB/s)", "%.0f" % sf, "%.0f" % sa, sf / sa))
print("%-36s %14s %14s %6.2fx" % ("write 4k qd16, 1 per chunk (IOPS)", "%.0f" % wf, "%.0f" % wa, wf / wa))
with open(summary + ".thin", "w") as f:
    f.write("%f\t%f\n" % (sf / sa, wf / wa))
PY
echo "  (first round's thin volume: $thin_on)"

# ---- verdicts ----
echo
python3 - "$summary" <<'PY'
import math, sys
rows = []
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    rows.append((parts[0], [float(x) for x in parts[1:4]]))
thin = [float(x) for x in open(sys.argv[1] + ".thin").read().split()]
def verdict(label, column, goal):
    ratios = [(r[1][column], r[0]) for r in rows]
    geo = math.exp(sum(math.log(x) for x, _ in ratios) / len(ratios))
    worst = min(ratios)
    met = sum(1 for x, _ in ratios if x >= goal)
    state = "met" if met == len(ratios) else "not met (%d of %d rows)" % (met, len(ratios))
    print("%-24s %.2fx geomean, worst %.2fx (%s) (goal %.1fx): %s" % (label + ":", geo, worst[0], worst[1], goal, state))
verdict("local vs plain export", 0, 0.9)
verdict("remote vs plain export", 1, 0.7)
print("%-24s %.2fx (1M sequential), %.2fx (4k, one per chunk) (goal 0.5x): %s" % ("thin first write:", thin[0], thin[1],
      "met" if min(thin) >= 0.5 else ("met for 1M writes only" if thin[0] >= 0.5 else "not met")))
PY
