#!/usr/bin/env bash
# Volume metadata benchmark: how the store's volume metadata scales to 100 TiB.
#
# Part 1 (the model, through the state machine's own commands): a simulated cluster of 16 nodes
# holding TIB thick volumes of 1 TiB (some written in full), then a thin volume written at random
# chunks (the worst case: one run per chunk). Prints time per command, the state's heap, and the
# time to write and load a snapshot of it.
#
# Part 2 (a real agent): sparse files as PVs ('nines pv create --size', 13 TiB each, ext4's limit
# is 16 TiB), TIB thick volumes of 1 TiB created through the API, then the time the agent takes to
# answer each listing (pv, vg, lv list and lv show, through the API: the figures exclude the CLI's
# JVM start, printed apart), 'lv create -L 1T', the agent's heap after a GC, and a graceful stop
# (which writes a store snapshot) and restart until lv list answers again.
# With BEFORE_JAR (a nines.jar built from the code before runs), part 2 runs with both jars at
# BEFORE_TIB TiB (default 4: the code before needs seconds per TiB), then asks both agents, up
# together, for each listing in turn (the fair comparison on a loaded machine), and prints ratios.
#
# Goals (issue 10): every listing <= 100 ms, lv create -L 1T <= 200 ms, store memory <= 1 GiB,
# snapshot + restart <= 10 s, at 100 TiB.
#
# Usage: bench/volume-metadata-bench.sh [TIB] [RANDOM_CHUNKS]
#        BEFORE_JAR=/path/to/old/nines.jar BEFORE_TIB=4 bench/volume-metadata-bench.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
tib=${1:-100}
random_chunks=${2:-1000000}
before_tib=${BEFORE_TIB:-4}
for tool in curl python3; do
  command -v "$tool" >/dev/null || bench_fail "$tool is needed (apt-get install $tool)"
done

work=$(mktemp -d /tmp/nines-metadata-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build bench package
jar="$work/nines.jar"
cp "$root/cli/target/nines.jar" "$jar"
classes="$work/bench-classes"
cp -r "$root/bench/target/classes" "$classes"
java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC)

echo "== part 1: the model at $tib TiB (machine shared with other work: figures are noisy) =="
"${java_cmd[@]}" -Xmx4g -cp "$classes:$jar" fivenines.bench.volume.VolumeMetadataBench "$tib" "$random_chunks"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms() { awk '{ printf "%.1f", $1 * 1000 }'; }

# agent_run LABEL JAR TIB: one agent, PVs of sparse files, TIB thick volumes of 1 TiB; prints figures
# and leaves them in $work/LABEL.figures (name value, one a line)
agent_run() {
  local label=$1 run_jar=$2 size=$3 keep=${4:-}
  local dir="$work/$label" port
  port=$(bench_free_ports 0 1 2)
  mkdir -p "$dir"
  export NINES_CONFIG_DIR="$dir/cfg"
  unset NINES_TOKEN NINES_AGENT
  local api="http://127.0.0.1:$port"
  start_agent() {
    "${java_cmd[@]}" -Xmx8g -jar "$run_jar" agent --name n0 --data "$dir/n0" --listen "127.0.0.1:$port" \
      >> "$dir/agent.log" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
  }
  wait_health() {
    for _ in $(seq 1 240); do
      curl -fsS "$api/v1/health" >/dev/null 2>&1 && return 0
      sleep 0.25
    done
    echo "the agent ($label) did not answer within 60 s; its log:" >&2
    tail -n 30 "$dir/agent.log" >&2
    exit 1
  }
  cli() { NINES_AGENT="$api" "${java_cmd[@]}" -XX:TieredStopAtLevel=1 -jar "$run_jar" "$@"; }
  step() { "$@" > "$dir/step.log" 2>&1 || { echo "failed ($label): ${*}" >&2; cat "$dir/step.log" >&2; exit 1; }; }
  # restart STOP_KEY RESTART_KEY VOLUMES: a graceful stop (it writes a store snapshot), then a start
  # that loads it and replays the log after it, until lv list shows VOLUMES volumes
  restart() {
    local stop_key=$1 restart_key=$2 want=$3 got=0 t0 t1 snapshot
    t0=$(date +%s.%N)
    kill -TERM "$agent_pid"
    wait "$agent_pid" 2>/dev/null || true
    t1=$(date +%s.%N)
    echo "$stop_key $(echo "$t1 - $t0" | bc | ms)" >> "$figures"
    snapshot=$(find "$dir/n0" -name 'snapshot.*' ! -name '*.md5' -printf '%s %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f1)
    echo "${restart_key}_snapshot_kib $(( ${snapshot:-0} / 1024 ))" >> "$figures"
    t0=$(date +%s.%N)
    start_agent
    for _ in $(seq 1 1200); do
      got=$(curl -fsS -H "Authorization: Bearer $token" "$api/v1/lvs" 2>/dev/null \
        | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo x)
      [ "$got" = "$want" ] && break
      sleep 0.1
    done
    t1=$(date +%s.%N)
    [ "$got" = "$want" ] || { echo "after the restart ($label) lv list shows $got volumes, not $want" >&2
      tail -n 30 "$dir/agent.log" >&2; exit 1; }
    echo "$restart_key $(echo "$t1 - $t0" | bc | ms)" >> "$figures"
  }
  start_agent
  wait_health
  step cli cluster init --name bench
  local token
  token=$(cat "$dir/n0/secret")
  api_time() { # METHOD PATH [BODY] -> seconds the agent took to answer
    local method=$1 path=$2 body=${3:-}
    if [ -n "$body" ]; then
      curl -fsS -o /dev/null -w '%{time_total}\n' -X "$method" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d "$body" "$api$path"
    else
      curl -fsS -o /dev/null -w '%{time_total}\n' -X "$method" -H "Authorization: Bearer $token" "$api$path"
    fi
  }
  local pvs=$(((size + 1 + 12) / 13)) pv_list=()
  for i in $(seq 1 "$pvs"); do
    step cli pv create "$dir/pv$i.img" --size 13T
    pv_list+=("n0:$dir/pv$i.img")
  done
  step cli vg create vg "${pv_list[@]}"
  local figures="$dir/figures"
  : > "$figures"
  # the same restart with no volumes yet: what the agent's start costs whatever the volumes
  restart stop_empty restart_empty 0
  local creates=()
  for i in $(seq 1 "$size"); do
    creates+=("$(api_time POST /v1/lvs "{\"vg\":\"vg\",\"name\":\"lv$i\",\"size\":$((1 << 40))}")")
  done
  echo "creates_median $(printf '%s\n' "${creates[@]}" | median | ms)" >> "$figures"
  echo "creates_last $(printf '%s\n' "${creates[@]}" | tail -n 1 | ms)" >> "$figures"
  for route in pvs vgs lvs lvs/vg/lv1; do
    local times=()
    for _ in $(seq 1 11); do times+=("$(api_time GET "/v1/$route")"); done
    echo "get_${route//\//_} $(printf '%s\n' "${times[@]}" | median | ms)" >> "$figures"
  done
  local extra=()
  for i in 1 2 3; do
    extra+=("$(api_time POST /v1/lvs "{\"vg\":\"vg\",\"name\":\"extra$i\",\"size\":$((1 << 40))}")")
  done
  echo "create_1t $(printf '%s\n' "${extra[@]}" | median | ms)" >> "$figures"
  local t0 t1
  t0=$(date +%s.%N)
  step cli lv list
  t1=$(date +%s.%N)
  echo "cli_lv_list $(echo "$t1 - $t0" | bc | ms)" >> "$figures"
  t0=$(date +%s.%N)
  step cli --version
  t1=$(date +%s.%N)
  echo "cli_start $(echo "$t1 - $t0" | bc | ms)" >> "$figures"
  "$JAVA_HOME/bin/jcmd" "$agent_pid" GC.run >/dev/null 2>&1 || true
  local heap
  heap=$("$JAVA_HOME/bin/jcmd" "$agent_pid" GC.heap_info 2>/dev/null \
    | sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | awk '{ s += $1 } END { printf "%.1f", s / 1024 }')
  echo "heap_mib $heap" >> "$figures"
  restart stop restart $((size + 3))
  if [ -n "$keep" ]; then
    # left running for the interleaved rounds below
    echo "$port $token $agent_pid" > "$dir/running"
    return
  fi
  kill -TERM "$agent_pid"
  wait "$agent_pid" 2>/dev/null || true
  rm -f "$dir"/pv*.img
}

# interleaved OLD NEW ROUNDS: the listings of two running agents, one request to each in turn, so
# that both see the same load; medians go to each one's figures as iget_*
interleaved() {
  local rounds=$3 label route port token pid order
  for round in $(seq 1 "$rounds"); do
    # each goes first in every other round
    order=("$1" "$2"); [ $((round % 2)) = 0 ] && order=("$2" "$1")
    for route in pvs vgs lvs lvs/vg/lv1; do
      for label in "${order[@]}"; do
        read -r port token pid < "$work/$label/running"
        curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" \
          "http://127.0.0.1:$port/v1/$route" >> "$work/$label/iget_${route//\//_}"
      done
    done
  done
  for label in "$1" "$2"; do
    for route in pvs vgs lvs lvs/vg/lv1; do
      echo "iget_${route//\//_} $(median < "$work/$label/iget_${route//\//_}" | ms)" >> "$work/$label/figures"
    done
    read -r port token pid < "$work/$label/running"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$work/$label"/pv*.img
  done
}

print_figures() { # LABEL TIB
  local f="$work/$1/figures"
  get() { awk -v k="$1" '$1 == k { print $2 }' "$f"; }
  echo "$1: one agent, $2 thick volumes of 1 TiB on sparse PVs (ms unless said)"
  printf '  %-44s %10s\n' "lv create -L 1T while filling (median, last)" "$(get creates_median), $(get creates_last)"
  printf '  %-44s %10s\n' "lv create -L 1T at $2 TiB (median of 3)" "$(get create_1t)"
  printf '  %-44s %10s\n' "GET /v1/pvs (pv list)" "$(get get_pvs)"
  printf '  %-44s %10s\n' "GET /v1/vgs (vg list)" "$(get get_vgs)"
  printf '  %-44s %10s\n' "GET /v1/lvs (lv list)" "$(get get_lvs)"
  printf '  %-44s %10s\n' "GET /v1/lvs/vg/lv1 (lv show)" "$(get get_lvs_vg_lv1)"
  printf '  %-44s %10s\n' "nines lv list, whole CLI (its JVM start: $(get cli_start))" "$(get cli_lv_list)"
  printf '  %-44s %10s\n' "agent heap after GC, MiB" "$(get heap_mib)"
  printf '  %-44s %10s\n' "store snapshot on disk, KiB" "$(get restart_snapshot_kib)"
  printf '  %-44s %10s\n' "graceful stop (writes the snapshot)" "$(get stop)"
  printf '  %-44s %10s\n' "restart until lv list answers in full" "$(get restart)"
  printf '  %-44s %10s\n' "  the same with no volumes (stop, restart)" "$(get stop_empty), $(get restart_empty)"
}

echo
echo "== part 2: a real agent at $tib TiB =="
agent_run after "$jar" "$tib"
print_figures after "$tib"

if [ -n "${BEFORE_JAR:-}" ]; then
  echo
  echo "== part 2 at $before_tib TiB: the code before runs ($BEFORE_JAR) beside this one =="
  agent_run before-old "$BEFORE_JAR" "$before_tib" keep
  agent_run before-new "$jar" "$before_tib" keep
  interleaved before-old before-new 21
  print_figures before-old "$before_tib"
  print_figures before-new "$before_tib"
  echo "listings with both agents up, requests interleaved (median of 21, ms): before / now"
  for k in iget_pvs iget_vgs iget_lvs iget_lvs_vg_lv1; do
    printf '  %-16s %10s / %s\n' "$k" "$(awk -v k="$k" '$1 == k { print $2 }' "$work/before-old/figures")" \
      "$(awk -v k="$k" '$1 == k { print $2 }' "$work/before-new/figures")"
  done
  echo "ratios (before / now, higher is better now):"
  for k in create_1t iget_pvs iget_vgs iget_lvs iget_lvs_vg_lv1 heap_mib stop restart restart_empty; do
    old=$(awk -v k="$k" '$1 == k { print $2 }' "$work/before-old/figures")
    new=$(awk -v k="$k" '$1 == k { print $2 }' "$work/before-new/figures")
    printf '  %-16s %10s / %-10s = %s\n' "$k" "$old" "$new" "$(awk -v a="$old" -v b="$new" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')"
  done
fi
