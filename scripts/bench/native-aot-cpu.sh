#!/bin/sh
# The CPU-bound CRC image on the NativeAOT `vessel` (whose software CPU uses the native tier) against
# qemu-system-x86_64 -accel tcg, alternating runs; prints each run's wall and user seconds and the medians.
# Usage: scripts/bench/native-aot-cpu.sh [ROUNDS] [REPEATS] [VESSEL_BINARY]
# The binary: dotnet publish src/Vessel.Cli -c Release -r linux-x64 -p:PublishAot=true -p:InvariantGlobalization=true -o DIR
set -eu
rounds=${1:-200}
repeats=${2:-5}
vessel=${3:-./publish/vessel}
repo=$(cd "$(dirname "$0")/../.." && pwd)
image=$(mktemp /tmp/vessel-crc-XXXXXX.mb)
trap 'rm -f "$image" "$image.times"' EXIT
expected=$(dotnet run -c Release --project "$repo/bench/Vessel.Bench" -- image "$rounds" "$image" | sed -n 's/.*expected output //p')
: >"$image.times"
i=0
while [ "$i" -lt "$repeats" ]; do
  i=$((i + 1))
  out=$(/usr/bin/time -f "qemu %e %U" -a -o "$image.times" qemu-system-x86_64 -accel tcg -m 64 -display none -no-reboot \
    -serial stdio -monitor none -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$image" </dev/null || true)
  [ "$out" = "$expected" ] || { echo "qemu printed '$out', expected $expected"; exit 1; }
  out=$(/usr/bin/time -f "vessel %e %U" -a -o "$image.times" "$vessel" run --backend emu --kernel "$image" --memory 64M </dev/null || true)
  [ "$out" = "$expected" ] || { echo "vessel printed '$out', expected $expected"; exit 1; }
done
grep -v "exited with" "$image.times" | awk -v rounds="$rounds" '
  { n[$1]++; wall[$1, n[$1]] = $2; user[$1, n[$1]] = $3; print "  " $1 ": " $2 " s wall, " $3 " s user" }
  function median(arr, who, count,   i, j, t, v) {
    for (i = 1; i <= count; i++) v[i] = arr[who, i]
    for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((count + 1) / 2)]
  }
  END {
    qw = median(wall, "qemu", n["qemu"]); qu = median(user, "qemu", n["qemu"])
    vw = median(wall, "vessel", n["vessel"]); vu = median(user, "vessel", n["vessel"])
    printf "CRC image, %d rounds, medians of %d: qemu %.2f s wall %.2f s user; vessel (NativeAOT) %.2f s wall %.2f s user; ratio wall %.2f, user %.2f\n", rounds, n["qemu"], qw, qu, vw, vu, vw / qw, vu / qu
  }'
