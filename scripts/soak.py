#!/usr/bin/env python3
"""Soak benchmark (a script, not a test): the default Debian guest on the emu backend doing steady console and
timer work for a while, with Vessel's resident memory printed every minute. After the warm-up the figures
must stay flat: the VMM must not grow with uptime, console traffic or timer interrupts.

  scripts/soak.py [--minutes 10] [--interval 60] [--warmup 2] [--memory 256] [--cpus 1] [--guest DIR]
                  [--vessel CMD] [--max-growth-mib 8]

The guest runs a background shell loop that prints a line and sleeps 0.2 s (console output, hrtimers on the
LAPIC timer, the PIT/RTC untouched), and the script types a command into the console every 5 s (console
input, an echo back). Each row: minute, VmRSS, the guest-RAM mapping's resident part, the rest ("VMM": what
Vessel itself holds), VmHWM, CPU seconds used, and the loop lines seen. The verdict compares the VMM part at
the end of the warm-up with its largest value after it; exit status 1 if it grew by more than --max-growth-mib
or the guest stopped printing.
"""
import argparse
import os
import select
import subprocess
import sys
import time

from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import guest_ram_rss_kib, process_cpu_seconds, status_kib

LOOP = b"(i=0; while true; do i=$((i+1)); echo \"soak-tick $i\"; sleep 0.2; done) &\n"


def memory_kib(pid, guest_kib):
    """(VmRSS, VmHWM, resident KiB of the guest-RAM mapping) of pid. The guest RAM mapping may have been merged
    with a neighbouring anonymous mapping (seen: +3.2 MiB; up to 16 MiB is accepted); the neighbour's resident
    pages then count as guest RAM, a small error."""
    rss, hwm = status_kib(pid, "VmRSS", "VmHWM")
    return rss or 0, hwm or 0, guest_ram_rss_kib(pid, guest_kib, 16 * 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=60, help="seconds between rows")
    ap.add_argument("--warmup", type=int, default=2, help="rows counted as warm-up")
    ap.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--boot-timeout", type=float, default=300)
    ap.add_argument("--max-growth-mib", type=float, default=8)
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    args = ap.parse_args()

    kernel, initrd = guest_files(args.guest or os.environ.get("VESSEL_GUEST_DIR"))
    vessel = vessel_command(args.vessel)
    cmd = vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd, "--append", APPEND,
                    "--memory", f"{args.memory}M", "--cpus", str(args.cpus)]

    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    guest_kib = args.memory * 1024
    seen, ticks, pings = b"", 0, 0
    try:
        start = time.monotonic()
        while MARKER not in seen:
            if time.monotonic() - start > args.boot_timeout or proc.poll() is not None:
                print("soak: the guest did not reach its shell", file=sys.stderr)
                return 1
            if select.select([proc.stdout], [], [], 0.5)[0]:
                seen = (seen + os.read(proc.stdout.fileno(), 65536))[-4096:]
        print(f"booted in {time.monotonic() - start:.1f} s; soaking {args.minutes:g} min, "
              f"{args.memory} MiB guest, {args.cpus} vCPU(s)", flush=True)
        proc.stdin.write(LOOP)
        proc.stdin.flush()

        print(f"{'min':>5} {'VmRSS':>9} {'guest RAM':>10} {'VMM':>9} {'VmHWM':>9} {'CPU s':>7} {'ticks':>7}")
        rows = []
        soak_start = time.monotonic()
        next_row, next_ping, tail = soak_start + args.interval, soak_start + 5, b""
        while True:
            now = time.monotonic()
            if now >= next_ping:
                pings += 1
                proc.stdin.write(f"echo soak-ping {pings}\n".encode())
                proc.stdin.flush()
                next_ping += 5
            if now >= next_row:
                rss, hwm, guest_rss = memory_kib(proc.pid, guest_kib)
                rows.append((rss, guest_rss, rss - guest_rss, ticks))
                print(f"{(now - soak_start) / 60:5.1f} {rss / 1024:7.1f} M {guest_rss / 1024:8.1f} M "
                      f"{(rss - guest_rss) / 1024:7.1f} M {hwm / 1024:7.1f} M {process_cpu_seconds(proc.pid):7.1f} {ticks:7}",
                      flush=True)
                next_row += args.interval
                if now - soak_start >= args.minutes * 60 - 1:
                    break
            if proc.poll() is not None:
                print("soak: vessel exited during the soak", file=sys.stderr)
                return 1
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                data = tail + chunk
                ticks += data.count(b"soak-tick ") - tail.count(b"soak-tick ")
                tail = data[-16:]
    finally:
        proc.kill()
        proc.wait()

    warm = rows[min(args.warmup, len(rows)) - 1]
    after = rows[min(args.warmup, len(rows)) - 1:]
    growth_kib = max(r[2] for r in after) - warm[2]
    stalled = len(rows) > 1 and rows[-1][3] == rows[-2][3]
    print(f"\nVMM memory after warm-up (minute {args.warmup}): {warm[2] / 1024:.1f} MiB; largest after: "
          f"{max(r[2] for r in after) / 1024:.1f} MiB; growth {growth_kib / 1024:.1f} MiB "
          f"(limit {args.max_growth_mib:g}); {ticks} loop lines, {pings} console commands")
    if stalled:
        print("soak: the guest stopped printing", file=sys.stderr)
    ok = growth_kib / 1024 <= args.max_growth_mib and not stalled
    print("flat" if ok else "NOT flat")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
