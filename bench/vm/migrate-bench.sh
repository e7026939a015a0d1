#!/usr/bin/env bash
# Live-migration benchmark: a 256 MiB guest running the write workload, migrated ROUNDS times
# between two agents on loopback (a -> b -> a ...) with 'nines vm migrate', beside the peer in the
# same run: the same guest (our QEMU's command line, read from /proc/PID/cmdline, with its own files)
# migrated ROUNDS times between two plain QEMU processes driven by hand over QMP, with the same
# migration parameters (MigrationOptions.defaults(): events + auto-converge, max-bandwidth 1 GiB/s,
# downtime-limit 300 ms) and its disk served the same way, over NBD on a Unix socket, by qemu-nbd.
# Rounds alternate which side goes first and only the measured side's guest runs (the other is
# paused), so both see the same machine (a shared machine's load drifts).
#
# Ours:  total = the agent's own totalMillis (MigrateVm 'begin' .. 'complete' committed), with QEMU's
#        figures and the per-step times, from GET /v1/vms/g/migration?node=SOURCE.
# Peer:  total = start of the destination QEMU .. its RESUME event (QEMU continues it by itself).
# Both:  overhead = total - QEMU's total-time; paused = source STOP .. destination RESUME (what the
#        guest lives through; our destination waits with -S until the switch-over continues it);
#        stall = the longest wait between two workload acknowledgements on the serial console
#        around the migration (includes the slower guest while its memory is copied).
# After every migration the workload must go on on the new node (its sequence number grows); if it
# does not, the run says so, shows the VM's state and resumes it.
#
# Goals (issue): orchestration overhead <= 0.5 s and downtime <= 100 ms.
# Usage: bench/vm/migrate-bench.sh [ROUNDS]     (default 10: about 8 minutes on 2 busy cores under TCG)
# NINES_BENCH_KEEP=DIR keeps the figures and logs there; NINES_JAVA_OPTS is passed to both agents.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
rounds=${1:-10}
overhead_goal_ms=500
downtime_goal_ms=100
# MigrationOptions.defaults(), for the peer
bandwidth=$((1 << 30)); downtime_limit_ms=300; auto_converge=true

for tool in qemu-system-x86_64 qemu-nbd python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (scripts/install-deps)" >&2; exit 1; }
done
helper="$root/bench/vm/migrate_bench.py"

work=$(mktemp -d /tmp/nines-migrate-bench.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  # QEMUs: ours are daemonized (they outlive the agents), the peer's are the helper's children
  for f in "$work"/*/vms/*/qemu.pid "$work"/peer/pids; do
    [ -f "$f" ] || continue
    while read -r p; do
      [ -n "$p" ] && grep -qa "$work" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p" 2>/dev/null
    done < "$f"
  done
  if [ -n "${NINES_BENCH_KEEP:-}" ]; then   # keep the figures and logs (not the images) for a closer look
    mkdir -p "$NINES_BENCH_KEEP" && tar -C "$work" --exclude='*.img' --exclude='*.jar' --exclude='*.sock' -cf - . | tar -C "$NINES_BENCH_KEEP" -xf -
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One jar for the whole run: a copy, so that a rebuild by someone else in the meantime changes nothing here.
jar_src="$root/cli/target/nines.jar"
if [ ! -f "$jar_src" ] || [ -n "$(find "$root" -path "$root/*/src/main/*" -newer "$jar_src" -print -quit 2>/dev/null)" ]; then
  echo "building nines ..." >&2
  (cd "$root" && mvn -q -B -o -DskipTests -pl cli -am package >/dev/null 2>&1 || mvn -q -B -DskipTests -pl cli -am package >&2) \
    || { echo "building nines failed: cd $root && mvn -pl cli -am package" >&2; exit 1; }
fi
jar="$work/nines.jar"
cp "$jar_src" "$jar"

# The test guest (cached build, else built from Debian packages by scripts/test-guest).
cache="${NINES_CACHE:-$HOME/.cache/fivenines}/guest"
kernel=$(ls -t "$cache"/linux-image-*/vmlinuz 2>/dev/null | head -n 1 || true)
if [ -n "$kernel" ] && [ -f "$(dirname "$kernel")/initrd.gz" ]; then
  initrd="$(dirname "$kernel")/initrd.gz"
else
  eval "$("$root/scripts/test-guest")"
  kernel=$GUEST_KERNEL; initrd=$GUEST_INITRD
fi

export NINES_CONFIG_DIR="$work/cfg"   # where the agents announce themselves and the CLI finds their secrets
export NINES_GUEST_MEMORY_MIB=2048    # memory the agents offer to guests (placement)
unset NINES_TOKEN NINES_AGENT
java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xss1m)
cli() { local port=$1; shift; NINES_AGENT="http://127.0.0.1:$port" "${java_cmd[@]}" -XX:TieredStopAtLevel=1 -jar "$jar" "$@"; }

pa=$(bench_free_ports 0 1 2 10 11 12); pb=$((pa + 10))
declare -A port=([a]=$pa [b]=$pb)

# ---- cluster: two agents, a volume group over a PV on each, a thin volume ----
for node in a b; do
  # shellcheck disable=SC2086
  "${java_cmd[@]}" ${NINES_JAVA_OPTS:-} -jar "$jar" agent --name "$node" --data "$work/$node" \
    --listen "127.0.0.1:${port[$node]}" > "$work/$node.log" 2>&1 & pids+=($!)
done
wait_health() {
  local port=$1
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the agent on port $port did not answer /v1/health within 60 s; its log:" >&2
  tail -n 30 "$work"/[ab].log >&2
  exit 1
}
wait_health "$pa"; wait_health "$pb"
step() { local log=$work/step.log; "$@" > "$log" 2>&1 || { echo "failed: ${*:2}" >&2; cat "$log" >&2; exit 1; }; }
step cli "$pa" cluster init --name bench
step cli "$pb" cluster join "127.0.0.1:$pa" --token "$(cat "$work/a/secret")"
step cli "$pa" pv create "$work/a-pv.img" --size 1G
step cli "$pb" pv create "$work/b-pv.img" --size 1G
step cli "$pa" vg create vg "a:$work/a-pv.img" "b:$work/b-pv.img"
step cli "$pa" lv create -n disk -L 64M --thin vg
secret=$(cat "$work/a/secret")
api() { curl -fsS -H "Authorization: Bearer $secret" "http://127.0.0.1:$pa$1"; }
console_seq() { # the workload's last acknowledged sequence number on the VM's current node, 0 if none
  api "/v1/vms/g/console?bytes=4096" 2>/dev/null | python3 -c '
import json, re, sys
found = re.findall(r"NINES-WORKLOAD seq=(\d+)", json.load(sys.stdin)["text"])
print(found[-1] if found else 0)' 2>/dev/null || echo 0
}
try_seq() { # ABOVE TIMEOUT_S -> the first seq above ABOVE, or 0 after the timeout
  local above=$1 deadline=$((SECONDS + $2)) seq
  while [ $SECONDS -lt $deadline ]; do
    seq=$(console_seq)
    [ "$seq" -gt "$above" ] && { echo "$seq"; return 0; }
    sleep 0.2
  done
  echo 0
}
wait_seq() { # ABOVE TIMEOUT_S -> the first seq above ABOVE; gives up the run after the timeout
  local seq; seq=$(try_seq "$@")
  [ "$seq" -gt 0 ] && { echo "$seq"; return 0; }
  echo "the workload did not get past seq $1 within $2 s; the VM: $(api /v1/vms/g | head -c 600)" >&2
  echo "its console: $(api "/v1/vms/g/console?bytes=600" | head -c 800)" >&2
  exit 1
}

# the guests' own view: every workload acknowledgement on any serial console, timestamped
mkdir -p "$work/peer"
python3 "$helper" watch "$work/ours.acks" "$work/a/vms/g/console.log" "$work/b/vms/g/console.log" & pids+=($!)
python3 "$helper" watch "$work/peer.acks" "$work/peer/serial-*.log" & pids+=($!)
peer() { python3 "$helper" "$1" "$work/peer" "$work/qemu.cmdline" "$work/peer/nbd.sock" "${@:2}"; }

cat <<EOF
Live migration: $rounds rounds of a 256 MiB guest (1 vCPU, TCG) running the write workload (O_DIRECT+fsync
4 KiB records on a 64 MiB thin volume), migrated between agents a and b on loopback (a->b, b->a, ...),
and in the same run the peer: the same guest between two plain QEMUs, driven by hand over QMP, its disk
from qemu-nbd. Rounds alternate which side goes first; only the side being measured runs its guest (the
other one is paused). Migration parameters on both sides: events, auto-converge, max-bandwidth 1 GiB/s,
downtime-limit 300 ms (MigrationOptions.defaults()).
$(qemu-system-x86_64 --version | head -n 1); $(nproc) CPUs; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)
guest: $kernel
EOF

# ---- both guests ----
step cli "$pa" vm create g -m 256 --kernel "$kernel" --initrd "$initrd" \
  --append 'console=ttyS0 quiet panic=-1 nines.workload=write' --disk vg/disk
booted=$SECONDS
step cli "$pa" vm start g --node a
qemu_pid=$(cat "$work/a/vms/g/qemu.pid")
[ -n "$qemu_pid" ] && [ -r "/proc/$qemu_pid/cmdline" ] || { echo "our QEMU is not running (pid file $work/a/vms/g/qemu.pid)" >&2; exit 1; }
cp "/proc/$qemu_pid/cmdline" "$work/qemu.cmdline"   # the peer runs exactly this QEMU command line
# the peer's guest boots meanwhile
truncate -s 64M "$work/peer/disk.img"
qemu-nbd -k "$work/peer/nbd.sock" -f raw -x disk --persistent --shared=8 --cache=writeback "$work/peer/disk.img" \
  > "$work/peer/qemu-nbd.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do [ -S "$work/peer/nbd.sock" ] && break; sleep 0.1; done
peer peer-boot > "$work/peer/boot.out" 2>&1 & peer_boot=$!
seq=$(wait_seq 0 300)
echo "our guest: workload at seq $seq, $((SECONDS - booted)) s after 'vm start'"
api_post() { curl -fsS -X POST -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$pa$1" > "$work/post.out" || { echo "POST $1 failed: $(cat "$work/post.out")" >&2; exit 1; }; }
api_post /v1/vms/g/pause
wait "$peer_boot" || { echo "the peer's guest did not boot:" >&2; cat "$work/peer/boot.out" >&2; exit 1; }
cat "$work/peer/boot.out"
peer peer-qmp stop
echo

# ---- the rounds ----
: > "$work/ours.jsonl"; : > "$work/peer.jsonl"
source=a
ours_round() {
  local r=$1 dest before wall_start t0 cli_ms wall_end status t_get after state
  dest=$([ $source = a ] && echo b || echo a)
  api_post /v1/vms/g/resume
  before=$(wait_seq "$(console_seq)" 60)   # the workload goes on before anything is measured
  sleep 1
  before=$(console_seq)
  wall_start=$(date +%s.%N)
  t0=$(date +%s%N)
  if ! cli "$pa" vm migrate g "$dest" > "$work/migrate.out" 2>&1; then
    echo "round $r: 'nines vm migrate g $dest' failed:" >&2; cat "$work/migrate.out" >&2
    api "/v1/vms/g/migration?node=$source" >&2 || true
    exit 1
  fi
  cli_ms=$((($(date +%s%N) - t0) / 1000000))
  wall_end=$(date +%s.%N)
  # the figures, once the source has finished (its last step, cleanup, comes after 'completed')
  for _ in $(seq 1 300); do
    t_get=$(date +%s.%N)
    status=$(api "/v1/vms/g/migration?node=$source")
    python3 -c 'import json,sys; m=json.loads(sys.argv[1]); sys.exit(0 if any(k.endswith("-cleanup") for k in m["stepMillis"]) else 1)' "$status" && break
    sleep 0.1
  done
  # the workload must go on, on the new node
  after=$(try_seq "$before" 30) stopped=""
  # and keep going: a guest that pauses a moment after it came up there (an I/O error) counts as stopped
  if [ "$after" != 0 ]; then
    for _ in $(seq 1 20); do
      state=$(api /v1/vms/g | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
      case $state in paused*) after=0; break;; esac
      sleep 0.25
    done
  fi
  if [ "$after" = 0 ]; then
    stopped=$(api /v1/vms/g | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
    echo "  ours $r: THE WORKLOAD STOPPED after the migration; the VM is $stopped; last events on $dest:" >&2
    tail -n 3 "$work/$dest/vms/g/events.log" | sed 's/^/      /' >&2
    echo "      resuming it ('vm resume' continues QEMU, which retries the failed request)" >&2
    api_post /v1/vms/g/resume
    after=$(wait_seq "$before" 60)
  fi
  python3 - "$status" "$r" "$source->$dest" "$wall_start" "$wall_end" "$cli_ms" "$before" "$after" "$t_get" \
      "$work/$source/vms/g/events.log" "$work/$dest/vms/g/events.log" "$stopped" >> "$work/ours.jsonl" <<'PY'
import datetime, json, sys
m = json.loads(sys.argv[1])
if m.get("state") != "completed":
    sys.exit("migration not completed: %s" % m)
start, end = float(sys.argv[4]), float(sys.argv[5])
m.update(round=int(sys.argv[2]), direction=sys.argv[3], wallStart=start, wallEnd=end, cliMillis=int(sys.argv[6]),
         seqBefore=int(sys.argv[7]), seqAfter=int(sys.argv[8]),
         cliToBeginMillis=round((float(sys.argv[9]) - m["elapsedMillis"] / 1000 - start) * 1000))
def events(path, what):  # "2026-12-01T04:25:51.345907194Z a: QEMU event STOP"
    found = []
    for line in open(path):
        stamp, _, text = line.rstrip("\n").partition(" ")
        if text.endswith(": QEMU event " + what):
            t = datetime.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
            if start <= t <= end:
                found.append(t)
    return found
stops = events(sys.argv[10], "STOP")
resumes = [t for t in events(sys.argv[11], "RESUME") if stops and t > stops[-1]]
m["pauseMillis"] = round((resumes[0] - stops[-1]) * 1000) if stops and resumes else None
m["workloadStopped"] = sys.argv[12] or None
print(json.dumps(m))
PY
  python3 - "$work/ours.jsonl" <<'PY'
import json, sys
m = json.loads(open(sys.argv[1]).read().splitlines()[-1])
steps = ", ".join("%s %d" % (k.split("-", 1)[1], v) for k, v in sorted(m["stepMillis"].items(), key=lambda kv: float(kv[0].split("-")[0])))
print("  ours %2d %s: total %5d ms, QEMU %5d ms, downtime %4d ms, overhead %4d ms, paused %s ms, seq %d -> %d "
      "(CLI %d ms, began after %d; steps: %s)" % (
    m["round"], m["direction"], m["totalMillis"], m["qemuTotalMillis"], m["qemuDowntimeMillis"], m["overheadMillis"],
    m["pauseMillis"], m["seqBefore"], m["seqAfter"], m["cliMillis"], m["cliToBeginMillis"], steps), flush=True)
PY
  source=$dest
  api_post /v1/vms/g/pause
}
peer_round() {
  local r=$1
  peer peer-qmp cont
  local before; before=$(peer peer-qmp seq)
  for _ in $(seq 1 300); do [ "$(peer peer-qmp seq)" -gt "$before" ] && break; sleep 0.2; done
  sleep 1
  peer peer-round "$r" "$work/peer.jsonl" "$bandwidth" "$downtime_limit_ms" "$auto_converge"
  peer peer-qmp stop
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then ours_round "$r"; peer_round "$r"; else peer_round "$r"; ours_round "$r"; fi
done
peer peer-qmp quit
step cli "$pa" vm stop g --force

sleep 0.5   # the watchers' last lines
echo; echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$helper" report "$work/ours.jsonl" "$work/peer.jsonl" "$work/ours.acks" "$work/peer.acks" \
  "$overhead_goal_ms" "$downtime_goal_ms"
