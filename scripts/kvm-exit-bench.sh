#!/usr/bin/env bash
# Port-I/O exit round trip on this machine's /dev/kvm: Vessel against a raw-ioctl C peer running the same
# real-mode guest, which times batches of exits itself (scripts/bench/kvm-exit-bench.c). Prints figures;
# asserts nothing. The nested-KVM lane (scripts/kvm-nested-lane.sh) runs the same program inside its QEMU guest.
#
#   scripts/kvm-exit-bench.sh [BATCHES EXITS_PER_BATCH RUNS]      (defaults 30 5000 3)
#
# Env: VESSEL (a vessel binary; default: the Release build's apphost, built if missing).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ -r /dev/kvm ] || { echo "kvm-exit-bench: /dev/kvm is not usable here" >&2; exit 2; }
vessel="${VESSEL:-$repo/src/Vessel.Cli/bin/Release/net10.0/vessel}"
if [ ! -x "$vessel" ]; then dotnet build "$repo/src/Vessel.Cli" -c Release -v q >&2; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/kvm-exit-bench" "$repo/scripts/bench/kvm-exit-bench.c"

# Which KVM this is matters more than anything else for the figures.
if grep -qwE 'vmx|svm' /proc/cpuinfo; then kind="hardware ($(grep -owE 'vmx|svm' /proc/cpuinfo | head -n 1))"
elif [ -d /sys/module/kvm_pvm ]; then kind="PVM (kvm_pvm: software virtualization, no VMX/SVM)"
else kind="unknown (no VMX/SVM flag)"; fi
echo "exit-bench: host KVM: $kind; $(nproc) CPUs; vessel: $vessel"
"$work/kvm-exit-bench" "$vessel" "${1:-30}" "${2:-5000}" "${3:-3}"
