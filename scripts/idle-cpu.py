#!/usr/bin/env python3
"""Idle-guest benchmark (a script, not a test): host CPU of the default Debian guest sitting at its busybox prompt,
Vessel (emu backend) against qemu-system-x86_64 -accel tcg on the same kernel and initramfs, alternating.

  scripts/idle-cpu.py [--cpus 1,2] [--runs 3] [--seconds 30] [--settle 5] [--tier native] [--vessel CMD] [--no-qemu]

Each run boots to the marker, waits for the prompt and --settle seconds, then reads the VMM's user+system CPU time
(/proc/PID/stat) over --seconds of wall time. Prints each run as % of one host core (and per vCPU) and the medians.
"""
import argparse
import statistics
import time

from benchlib.console import Console
from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import process_cpu_seconds


def idle_share(cmd, seconds, settle, timeout):
    """Share of one host core the VMM used while its guest idled, or None if the guest did not reach its prompt."""
    console = Console(cmd, time.monotonic() + timeout)
    try:
        if not console.wait_for(MARKER) or not console.wait_for(b"# "):
            return None
        time.sleep(settle)
        pid = console.proc.pid
        cpu, wall = process_cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        return (process_cpu_seconds(pid) - cpu) / (time.monotonic() - wall)
    finally:
        console.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpus", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=300, help="seconds a guest may take to reach its prompt")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB")
    ap.add_argument("--tier", default="", help="vessel's --emu-tier; default: vessel's own")
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args()

    kernel, initrd = guest_files(args.guest)
    vessel = vessel_command(args.vessel)
    results = {}
    for run in range(args.runs):
        for cpus in args.cpus.split(","):
            commands = {"vessel": vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd, "--append",
                                            APPEND, "--memory", f"{args.memory}M", "--cpus", cpus]
                        + (["--emu-tier", args.tier] if args.tier else [])}
            if not args.no_qemu:
                commands["qemu"] = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(args.memory), "-smp", cpus,
                                    "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
                                    "-kernel", kernel, "-initrd", initrd, "-append", APPEND]
            for name, cmd in commands.items():
                share = idle_share(cmd, args.seconds, args.settle, args.timeout)
                shown = f"{share * 100:.2f} % of a core ({share * 100 / int(cpus):.2f} % per vCPU)" if share is not None else "no prompt"
                print(f"run {run + 1}: {name:6} {cpus} vCPU(s): {shown}", flush=True)
                if share is not None:
                    results.setdefault((name, cpus), []).append(share)
    print()
    for (name, cpus), shares in sorted(results.items()):
        med = statistics.median(shares)
        print(f"{name:6} {cpus} vCPU(s): median {med * 100:.2f} % of a core, {med * 100 / int(cpus):.2f} % per vCPU "
              f"({len(shares)} runs)")


if __name__ == "__main__":
    main()
