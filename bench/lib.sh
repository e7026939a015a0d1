# Sourced by the benchmark scripts: builds what they run and says why when something fails.
# A failed step prints its command and the end of its output instead of exiting silently.

bench_name=$(basename "$0")
trap 'bench_status=$?; echo "$bench_name: failed (exit $bench_status) at line $LINENO: $BASH_COMMAND" >&2' ERR

bench_fail() {
  echo "$bench_name: $*" >&2
  exit 1
}

# bench_mvn DESCRIPTION ARGS...: runs Maven quietly; on failure shows what it said and exits.
# Not offline: a fresh Maven cache lacks plugins (the dependency plugin, say) until it fetches them.
bench_mvn() {
  local what=$1 log
  shift
  log=$(mktemp /tmp/nines-bench-mvn.XXXXXX)
  if ! (cd "$root" && mvn -q -B -ntp "$@") >"$log" 2>&1; then
    echo "$bench_name: $what failed: (cd $root && mvn -q -B -ntp $*) said:" >&2
    grep -E '^\[(ERROR|FATAL)\]' "$log" | head -n 20 >&2 || true
    grep -qE '^\[(ERROR|FATAL)\]' "$log" || tail -n 20 "$log" >&2
    rm -f "$log"
    exit 1
  fi
  cat "$log"
  rm -f "$log"
}

# bench_build MODULE GOAL: builds MODULE and what it needs (GOAL: package or install).
bench_build() {
  bench_mvn "building $1" -DskipTests -pl "$1" -am "$2" >/dev/null
}

# bench_classpath MODULE: prints MODULE's run-time class path.
bench_classpath() {
  local file
  file=$(mktemp /tmp/nines-bench-cp.XXXXXX)
  bench_mvn "resolving the class path of $1" -pl "$1" dependency:build-classpath -Dmdep.outputFile="$file" >/dev/null
  cat "$file"
  rm -f "$file"
}

# bench_build_classpath MODULE: packages MODULE and what it needs in one reactor, and prints
# MODULE's run-time class path with the reactor's own modules as their fresh jars; nothing is
# installed into the Maven cache, so a build here never replaces artifacts others resolve.
bench_build_classpath() {
  local file="$root/$1/target/bench-classpath.txt"
  rm -f "$file"
  bench_mvn "building $1" -DskipTests -pl "$1" -am package dependency:build-classpath \
    -Dmdep.outputFile=target/bench-classpath.txt >/dev/null
  cat "$file"
}

# bench_port_free PORT: true when nothing answers on 127.0.0.1:PORT.
bench_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bench_free_ports OFFSET...: prints a base port B (20000-28999) with B+OFFSET free for every OFFSET
# (an agent takes its API port, +1 for Raft and +2 for NBD).
bench_free_ports() {
  local base offset ok
  while :; do
    base=$((20000 + RANDOM % 9000)); ok=1
    for offset in "$@"; do bench_port_free $((base + offset)) || { ok=0; break; }; done
    [ "$ok" = 1 ] && { echo "$base"; return; }
  done
}
