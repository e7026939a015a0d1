#!/usr/bin/env bash
# CLI start-up: the time and CPU a short command takes, run as the launcher runs it (JDK 25's AOT
# cache made after each build, the quick compiler only for commands) against plain 'java -jar', in
# one run, alternating. The command is 'lv list' against an address where no agent answers, so that
# only the start-up and the client's path are measured (an agent's answer would add the same to both).
#
# Usage: bench/cli/startup-bench.sh [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
runs=${1:-10}
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 1; }
"$root/nines" --version >/dev/null   # builds the jar and the AOT cache when needed
jar="$root/cli/target/nines.jar"
export NINES_AGENT=http://127.0.0.1:1
work=$(mktemp -d /tmp/nines-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
measure() {
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$work/time"
}
: > $work/runs
for _ in $(seq 1 "$runs"); do
  echo "plain $(measure "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xss1m -jar "$jar" lv list)" >> $work/runs
  echo "nines $(measure "$root/nines" lv list)" >> $work/runs
done
python3 - $work/runs "$runs" <<'PY'
import statistics, sys, os
rows = {}
for line in open(sys.argv[1]):
    name, wall, user, sys_ = line.split()
    rows.setdefault(name, []).append((float(wall), float(user) + float(sys_)))
print("CLI start-up, 'lv list' with no agent answering, median of %s runs (load average %s)"
      % (sys.argv[2], " ".join("%.2f" % x for x in os.getloadavg())))
print("%-28s %8s %8s" % ("", "wall s", "CPU s"))
med = {}
for name, label in (("plain", "java -jar (before)"), ("nines", "./nines (AOT cache, C1)")):
    wall = statistics.median(w for w, _ in rows[name]); cpu = statistics.median(c for _, c in rows[name])
    med[name] = (wall, cpu)
    print("%-28s %8.2f %8.2f" % (label, wall, cpu))
print("ratio before / now: wall %.2fx, CPU %.2fx" % (med["plain"][0] / med["nines"][0], med["plain"][1] / med["nines"][1]))
PY
