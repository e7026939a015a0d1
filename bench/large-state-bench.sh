#!/usr/bin/env bash
# Store with a large state (issue 11, item 4): three store replicas, one process each, over real
# Ratis on loopback; a state of 200 nodes, 5,000 VMs and 50,000 config keys built through the
# store's own commands; commit p50/p99 with and without a snapshot being written; a follower
# killed (SIGKILL) and started again, with the log entries it replayed checked against its snapshot.
# Usage: bench/large-state-bench.sh [NODES] [VMS] [KEYS] [SECONDS] [CLIENTS] [SNAPSHOT_EVERY]
#        (defaults 200 5000 50000 30 4 1000: the full size, two to four minutes here)
# With BEFORE_STORE_JAR=path/to/store.jar (built from older code), the same run follows with that
# store jar in place of this one, for a comparison at the same load.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
cd "$root"
cp=$(bench_build_classpath bench)
run() { # CLASSPATH ARGS...
  local classpath=$1
  shift
  "$JAVA_HOME/bin/java" -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$root/bench/target/classes:$classpath" fivenines.bench.store.LargeStateBench "$@"
}
echo "== this code =="
run "$cp" "$@"
if [ -n "${BEFORE_STORE_JAR:-}" ]; then
  [ -f "$BEFORE_STORE_JAR" ] || bench_fail "BEFORE_STORE_JAR=$BEFORE_STORE_JAR is not a file"
  store_jar=$(tr ':' '\n' <<< "$cp" | grep '/store/target/store-[^/]*\.jar$' | head -n 1)
  [ -n "$store_jar" ] || bench_fail "the store jar is not on the class path: $cp"
  echo
  echo "== the same with $BEFORE_STORE_JAR in place of $store_jar =="
  run "${cp//$store_jar/$BEFORE_STORE_JAR}" "$@"
fi
