#!/usr/bin/env bash
# Store with a large state (issue 11, item 4): three store replicas, one process each, over real
# Ratis on loopback; a state of 200 nodes, 5,000 VMs and 50,000 config keys built through the
# store's own commands; commit p50/p99 with and without a snapshot being written; a follower
# killed (SIGKILL) and started again, with the log entries it replayed checked against its snapshot.
# Usage: bench/large-state-bench.sh [NODES] [VMS] [KEYS] [SECONDS] [CLIENTS] [SNAPSHOT_EVERY]
#        (defaults 200 5000 50000 30 4 2000: the full size, about two minutes here)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
cd "$root"
cp=$(bench_build_classpath bench)
exec "$JAVA_HOME/bin/java" -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -cp "$root/bench/target/classes:$cp" fivenines.bench.store.LargeStateBench "$@"
