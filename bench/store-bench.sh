#!/usr/bin/env bash
# Store benchmark: three fivenines agents against a three-server ZooKeeper 3.9 ensemble, on
# loopback, in one run. Usage: bench/store-bench.sh [LOCK_SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env"
. "$root/bench/lib.sh"
nines_find_jdk || bench_fail "no JDK 25 (see above)"
nines_find_maven || bench_fail "no Maven (see above)"
cd "$root"
cp=$(bench_build_classpath bench)
exec "$JAVA_HOME/bin/java" -XX:+UseSerialGC -Dnines.jar="$root/cli/target/nines.jar" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$root/bench/target/classes:$cp" fivenines.bench.store.StoreBench "$@"
