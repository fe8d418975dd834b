#!/bin/bash
# Profiles the default guest's boot on the emu backend's native tier with perf, until the guest's marker line,
# with translated blocks named in perf's map (VESSEL_PERF_MAP) next to the runtime's managed code:
#   scripts/perf-native.sh [OUT.data]        then: perf report -i OUT.data --sort sym
#                                            and:  perf annotate -i OUT.data -s 'vessel-native@RIP'
# Uses the Release build of src/Vessel.Cli (VESSEL_CLI=DIR for another build directory).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/vessel-perf.data}
CLI=${VESSEL_CLI:-$ROOT/src/Vessel.Cli/bin/Release/net10.0}
G=${VESSEL_GUEST:-$HOME/.cache/vessel/guest}
APPEND=$(cd "$ROOT" && python3 -c 'import sys; sys.path.insert(0,"scripts"); from benchlib.guest import APPEND; print(APPEND)')
LOG=$(mktemp -d)
VESSEL_PERF_MAP=1 DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  perf record -e cpu-clock -F 2000 -o "$OUT" -- dotnet "$CLI/vessel.dll" run --backend emu --kernel "$G/vmlinuz" \
  --initrd "$G/initramfs.cpio.gz" --append "$APPEND" --memory 512M < /dev/null > "$LOG/out" 2> "$LOG/err" &
PERF=$!
start=$(date +%s.%N)
until grep -q VESSEL-GUEST-READY "$LOG/out" 2>/dev/null; do
  kill -0 $PERF 2>/dev/null || { echo "vessel stopped before the marker:"; tail "$LOG/err"; exit 1; }
  sleep 0.2
done
echo "marker after $(echo "$(date +%s.%N) - $start" | bc) s (under perf)"
kill -INT $PERF; wait $PERF || true
# The runtime writes its map at its own offset: the blocks' lines are kept apart until now.
for m in /tmp/perf-*-vessel.map; do
  [ -e "$m" ] || continue
  pid=${m#/tmp/perf-}; pid=${pid%-vessel.map}
  [ -e "/tmp/perf-$pid.map" ] && cat "$m" >> "/tmp/perf-$pid.map" && rm "$m"
done
rm -r "$LOG"
echo "perf report -i $OUT --sort sym"
