#!/usr/bin/env python3
"""Userland benchmark: a fixed mix of CPU-heavy busybox commands inside the default Debian guest, each timed by the
guest's own clock (/proc/uptime) and by the VMM process's CPU time, in Vessel (emu) and in qemu-system-x86_64
-accel tcg, sides alternating, same kernel and initramfs. Prints every run's per-item seconds, the per-item and total
medians of both, and the ratio Vessel/QEMU of each.

The mix (MIX below) works on a text file the guest generates itself with awk from a fixed seed, so every run on
either side hashes, compresses and sorts the same bytes: after the mix the guest prints the md5 of every file it
made and the shell loop's result, and the script fails a run whose check line differs from the first run's, or
whose gunzip did not give back the awk output.

  scripts/userland-bench.py [--runs 3] [--mib 8] [--loop 100000] [--timeout 1800] [--memory 512]
                            [--guest DIR] [--vessel CMD] [--only vessel|qemu] [--console-log FILE]
"""
import argparse
import os
import re
import statistics
import sys
import time

from benchlib.console import Console
from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import process_cpu_seconds, status_kib

# Words for the generated lines; awk picks them with its seeded rand(), so the text is compressible like prose.
WORDS = "vessel guest kernel block page queue vcpu timer frame cache ring probe exit halt store load"

# (name, shell command run by the guest's timer function). {lines} and {loop} come from the arguments.
MIX = (
    ("awk-gen", "awk -v n={lines} 'BEGIN{{srand(22); split(\"" + WORDS + "\", w, \" \"); "
                "for (i = 0; i < n; i++) printf \"%09d %s %s %d\\n\", int(rand() * 1e9), w[1 + int(rand() * 16)], "
                "w[1 + int(rand() * 16)], i}}' > /tmp/a"),
    ("gzip-9", "gzip -9 -c /tmp/a > /tmp/a.gz"),
    ("gunzip", "gunzip -c /tmp/a.gz > /tmp/b"),
    ("sort", "sort /tmp/a > /tmp/s"),
    ("md5sum", "md5sum /tmp/a /tmp/b /tmp/s > /tmp/sums.md5"),
    ("sha256sum", "sha256sum /tmp/a /tmp/b /tmp/s > /tmp/sums.sha"),
    ("sh-loop", "i=0; s=0; while [ $i -lt {loop} ]; do s=$(( (s * 31 + i * i) % 1000003 )); i=$((i + 1)); done; "
                "echo $s > /tmp/loop"),
)

# u NAME COMMAND: runs COMMAND with eval and prints its status and the uptime before and after. The quotes split
# the tags, so the terminal's echo of the typed line never matches them.
TIMER = ("u(){ n=$1; shift; t0=$(cut -d' ' -f1 /proc/uptime); eval \"$1\" >/dev/null 2>&1; r=$?; "
         "t1=$(cut -d' ' -f1 /proc/uptime); echo UL''RES $n $r $t0 $t1 :END; }; echo UL''SET\n")
RESULT = re.compile(rb"ULRES (\S+) (-?\d+) ([\d.]+) ([\d.]+) :END")
CHECK_CMD = ("echo UL''CHK $(wc -c < /tmp/a) $(md5sum /tmp/a /tmp/a.gz /tmp/b /tmp/s | cut -d' ' -f1) "
             "$(cat /tmp/loop) :END\n")
CHECK = re.compile(rb"ULCHK ([^:]*) :END")
CONSOLE_LOG = None


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def bench_once(cmd, timeout, lines, loop):
    """Boots, runs the mix. Returns ({item: guest seconds}, {item: the VMM's CPU seconds}, check line, VmHWM KiB)
    or an error string. The CPU seconds (the whole process's, from the typed line to the result line) are the
    steadier figure on a machine whose other jobs take most of the cores: the guest's clock then also counts the
    time the VMM waited for a core."""
    console = Console(cmd, time.monotonic() + timeout, CONSOLE_LOG)
    try:
        if not console.wait_for(MARKER):
            return "no marker (did not boot, or timed out)"
        console.type(TIMER)
        if not console.wait_for(b"ULSET"):
            return "the guest did not take the timer definition"
        times, cpu = {}, {}
        for name, template in MIX:
            cpu_before = process_cpu_seconds(console.proc.pid)
            console.type(f"u {name} {shell_quote(template.format(lines=lines, loop=loop))}\n")
            m = console.wait_for(RESULT)
            if not m:
                return f"{name}: no result line (guest stuck or timed out)"
            if m.group(1).decode() != name or int(m.group(2)) != 0:
                return f"{name}: failed (status {int(m.group(2))} for {m.group(1).decode()})"
            times[name] = float(m.group(4)) - float(m.group(3))
            cpu[name] = process_cpu_seconds(console.proc.pid) - cpu_before
        (hwm,) = status_kib(console.proc.pid, "VmHWM")
        console.type(CHECK_CMD)
        check = console.wait_for(CHECK)
        if not check:
            return "no check line"
        return times, cpu, check.group(1).decode().strip(), hwm
    finally:
        console.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=float, default=8, help="about this many MiB of generated text")
    ap.add_argument("--loop", type=int, default=100000, help="iterations of the shell loop")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per boot and mix")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB")
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    ap.add_argument("--only", choices=("vessel", "qemu"))
    ap.add_argument("--console-log", help="append both VMMs' console output and stderr to this file")
    args = ap.parse_args()
    global CONSOLE_LOG
    if args.console_log:
        CONSOLE_LOG = open(args.console_log, "ab")

    kernel, initrd = guest_files(args.guest)
    vessel = vessel_command(args.vessel)
    vessel_cmd = vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd, "--append", APPEND,
                           "--memory", f"{args.memory}M"]
    qemu_cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(args.memory), "-display", "none", "-no-reboot",
                "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", initrd, "-append", APPEND]
    lines = int(args.mib * 1048576 / 28)  # the generated lines average about 28 bytes

    print(f"mix: {', '.join(name for name, _ in MIX)}; ~{args.mib:g} MiB of text, shell loop {args.loop}; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results = {"vessel": [], "qemu": []}
    first_check, failed = None, False
    for i in range(args.runs):
        order = (("qemu", qemu_cmd), ("vessel", vessel_cmd))
        for side, cmd in (order if i % 2 == 0 else order[::-1]):
            if args.only and side != args.only:
                continue
            out = bench_once(cmd, args.timeout, lines, args.loop)
            if isinstance(out, str):
                print(f"run {i + 1}: {side:6} {out}", flush=True)
                failed = True
                continue
            times, cpu, check, hwm = out
            fields = check.split()
            if len(fields) != 6 or fields[1] != fields[3]:
                print(f"run {i + 1}: {side:6} wrong output: gunzip did not give back the text ({check})", flush=True)
                failed = True
                continue
            first_check = first_check or check
            if check != first_check:
                print(f"run {i + 1}: {side:6} wrong output: check '{check}', first run's '{first_check}'", flush=True)
                failed = True
                continue
            results[side].append((times, cpu))
            cells = ", ".join(f"{name} {s:.2f}/{cpu[name]:.2f}" for name, s in times.items())
            print(f"run {i + 1}: {side:6} {cells}; total {sum(times.values()):.2f} s guest clock / "
                  f"{sum(cpu.values()):.2f} s VMM CPU, VmHWM {hwm / 1024:.0f} MiB", flush=True)

    print(f"\ncheck line (file size, md5 of a, a.gz, b, s, loop result): {first_check}")
    names = [name for name, _ in MIX] + ["total"]
    med = {}
    for side, runs in results.items():
        for name in names if runs else ():
            for what, index in (("clock", 0), ("cpu", 1)):
                med[(side, name, what)] = statistics.median(
                    sum(r[index].values()) if name == "total" else r[index][name] for r in runs)
    print(f"{'item':10} {'vessel':>9} {'qemu':>9} {'ratio':>6} | {'vessel':>9} {'qemu':>9} {'ratio':>6}")
    print(f"{'':10} {'medians of guest seconds':>26} | {'medians of the VMM CPU seconds':>26}")
    for name in names:
        cells = []
        for what in ("clock", "cpu"):
            v, q = med.get(("vessel", name, what)), med.get(("qemu", name, what))
            ratio = f"{v / q:6.2f}" if v is not None and q else "     -"
            cells.append(f"{v if v is not None else float('nan'):9.2f} "
                         f"{q if q is not None else float('nan'):9.2f} {ratio}")
        print(f"{name:10} " + " | ".join(cells))
    print(f"runs: vessel {len(results['vessel'])}, qemu {len(results['qemu'])}; "
          f"load average at end {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
