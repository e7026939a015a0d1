#!/usr/bin/env bash
# Failover benchmark (bench/ha/failover_bench.py says what it measures): an HA guest's node killed
# ROUNDS times, each failover split into detection, lease wait, fencing, placement, start and boot;
# beside it a cold start of the same guest and the false-failover check.
# Usage: bench/ha/failover-bench.sh [ROUNDS] [DEAD_AFTER_SECONDS] [LEASE_MILLIS] [RENEW_MILLIS]
#   (10 rounds; each setting left at the cluster's default when not given or given as "default")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/scripts/java-env"
nines_find_jdk
rounds=${1:-10}; dead=${2:-default}; lease=${3:-default}; renew=${4:-default}
for tool in qemu-system-x86_64 python3 fence_dummy; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is needed (scripts/install-deps)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/nines-failover-bench.XXXXXX)
cleanup() {
  set +e
  for f in "$work"/*/vms/*/qemu.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); grep -qa "$work" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
  done
  if [ -n "${NINES_BENCH_KEEP:-}" ]; then
    mkdir -p "$NINES_BENCH_KEEP" && tar -C "$work" --exclude='*.img' --exclude='*.jar' --exclude='*.sock' -cf - . | tar -C "$NINES_BENCH_KEEP" -xf -
  fi
  rm -rf "$work"
}
trap cleanup EXIT
jar_src="$root/cli/target/nines.jar"
[ -f "$jar_src" ] || { echo "build first: mvn -q -o package -DskipTests" >&2; exit 1; }
cp "$jar_src" "$work/nines.jar"
cache="${NINES_CACHE:-$HOME/.cache/fivenines}/guest"
kernel=$(ls -t "$cache"/linux-image-*/vmlinuz 2>/dev/null | head -n 1 || true)
if [ -n "$kernel" ] && [ -f "$(dirname "$kernel")/initrd.gz" ]; then
  initrd="$(dirname "$kernel")/initrd.gz"
else
  eval "$("$root/scripts/test-guest")"
  kernel=$GUEST_KERNEL; initrd=$GUEST_INITRD
fi
echo "$(qemu-system-x86_64 --version | head -n 1); $(nproc) CPUs; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$root/bench/ha/failover_bench.py" "$work" "$work/nines.jar" "$kernel" "$initrd" "$rounds" "$dead" "$lease" "$renew"
