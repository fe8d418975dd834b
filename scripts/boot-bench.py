#!/usr/bin/env python3
"""Boot benchmark: wall time from process start to the guest's marker line, Vessel (emu) next to
qemu-system-x86_64 -accel tcg, on the same kernel and initramfs, median of several runs, and their ratio;
plus each side's peak resident memory (VmHWM) at the marker, and that minus the guest RAM it touched, and their
ratios. QEMU 7.2 maps guest RAM as one anonymous mapping of exactly the guest's size (pc.ram), as Vessel does, so
one smaps rule finds both; QEMU's TCG code buffer (a 1 GiB rwx mapping, resident where used) counts as the VMM's.
Each run also prints the CPU seconds the VMM used to the marker, which a loaded machine moves less than wall time.

  scripts/boot-bench.py [--runs 3] [--timeout 300] [--memory 512] [--guest DIR] [--vessel CMD]
                        [--only vessel|qemu] [--smaps]

DIR defaults to the default guest (scripts/build-guest.sh builds it); CMD defaults to the Release build
of src/Vessel.Cli (built first if missing), or any command (`env DOTNET_GCgen0size=0x400000 dotnet ...`, a
NativeAOT binary). --smaps prints, at each marker, the resident memory by kind of mapping and the largest mappings.
"""
import argparse
import os
import select
import statistics
import subprocess
import sys
import time

from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import GUEST_RAM_SLACK_KIB, guest_ram_rss_kib, process_cpu_seconds, smaps_by_kind, status_kib


def peak_rss_kib(pid, guest_kib):
    """(VmHWM, resident KiB of the guest-RAM mapping) of pid, or None. Guest RAM is an mmap'd block that is
    only resident where the guest touched it, so "beyond guest RAM" is VmHWM minus that mapping's Rss: what
    the VMM itself costs. The mapping may have been merged with a neighbouring one (guest_ram_rss_kib)."""
    try:
        (hwm,) = status_kib(pid, "VmHWM")
        return None if hwm is None else (hwm, guest_ram_rss_kib(pid, guest_kib, GUEST_RAM_SLACK_KIB))
    except OSError:
        return None


def print_smaps(name, pid, guest_kib):
    """Where pid's resident memory is at the marker, by kind of mapping, and its largest mappings."""
    kinds, largest = smaps_by_kind(pid, guest_kib)
    print(f"  {name} resident at the marker: " + ", ".join(f"{k} {v / 1024:.1f}" for k, v in
                                                            sorted(kinds.items(), key=lambda kv: -kv[1])) + " MiB")
    for rss, size, perms, what in largest:
        print(f"    {rss / 1024:7.1f} MiB of {size / 1024:9.1f} MiB {perms} {what}")


def time_to_marker(cmd, timeout, guest_kib, name=None, smaps=False):
    """Starts cmd, returns (seconds to the marker or None, peak RSS KiB at that moment); prints where the memory
    is (print_smaps) if smaps."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = b""
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    return None, None
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return None, None
            seen = (seen + chunk)[-4096:]
            if MARKER in seen:
                seconds, peak = time.monotonic() - start, peak_rss_kib(proc.pid, guest_kib)
                cpu = process_cpu_seconds(proc.pid)
                if cpu is not None:
                    print(f"  {name} CPU seconds to the marker: {cpu:.2f}")
                if smaps:
                    print_smaps(name, proc.pid, guest_kib)
                return seconds, peak
        return None, None
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB")
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    ap.add_argument("--only", choices=("vessel", "qemu"))
    ap.add_argument("--smaps", action="store_true", help="print where each side's resident memory is at the marker")
    args = ap.parse_args()

    kernel, initrd = guest_files(args.guest)
    vessel = vessel_command(args.vessel)

    vessel_cmd = vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd,
                           "--append", APPEND, "--memory", f"{args.memory}M"]
    qemu_cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(args.memory), "-display", "none", "-no-reboot",
                "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", initrd, "-append", APPEND]

    results = {"vessel": [], "qemu": []}
    rss = {"vessel": [], "qemu": []}
    for i in range(args.runs):
        for name, cmd in (("qemu", qemu_cmd), ("vessel", vessel_cmd)):
            if args.only and name != args.only:
                continue
            seconds, peak = time_to_marker(cmd, args.timeout, args.memory * 1024, name, args.smaps)
            shown = f"{seconds:.2f} s" if seconds is not None else f"no marker within {args.timeout:.0f} s"
            print(f"run {i + 1}: {name:6} {shown}", flush=True)
            if seconds is not None:
                results[name].append(seconds)
                if peak is not None:
                    rss[name].append(peak)

    print()
    med = {k: statistics.median(v) if len(v) == args.runs else None for k, v in results.items()
           if not args.only or k == args.only}
    for name in med:
        print(f"{name:6} median time to marker: " + (f"{med[name]:.2f} s" if med[name] is not None else "n/a (did not boot every run)"))
    if med.get("vessel") is not None and med.get("qemu") is not None:
        print(f"ratio vessel/qemu: {med['vessel'] / med['qemu']:.2f}")
    peak = {}
    for name in ("vessel", "qemu"):
        if rss[name]:
            hwm, guest_rss = max(rss[name])
            peak[name] = (hwm, hwm - guest_rss)
            print(f"{name:6} peak RSS {hwm / 1024:.0f} MiB, of which guest RAM touched {guest_rss / 1024:.0f} MiB "
                  f"(of {args.memory} MiB): {(hwm - guest_rss) / 1024:.0f} MiB beyond guest RAM "
                  f"(runs: {', '.join(f'{h / 1024:.0f}' for h, _ in rss[name])} MiB VmHWM)")
    if len(peak) == 2:
        print(f"ratio vessel/qemu peak RSS: {peak['vessel'][0] / peak['qemu'][0]:.2f}, "
              f"beyond guest RAM: {peak['vessel'][1] / peak['qemu'][1]:.2f}")
    return 0 if all(med.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
