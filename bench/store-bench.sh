#!/usr/bin/env bash
# Store benchmark: three fivenines agents against a three-server ZooKeeper 3.9 ensemble, on
# loopback, in one run. Usage: bench/store-bench.sh [LOCK_SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
cd "$root"
mvn -q -B -o -DskipTests -pl bench -am install >/dev/null 2>&1 || mvn -q -B -DskipTests -pl bench -am install >/dev/null
cp=$(mvn -q -o -pl bench dependency:build-classpath -Dmdep.outputFile=/dev/stdout)
exec "$JAVA_HOME/bin/java" -XX:+UseSerialGC -Dnines.jar="$root/cli/target/nines.jar" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$root/bench/target/classes:$cp" fivenines.bench.store.StoreBench "$@"
