#!/usr/bin/env python3
"""Start-up benchmark: wall time from process start to the guest's first instructions, and to the process's exit,
for `vessel run` (the framework build and, with --aot, a NativeAOT binary; emu backend) and qemu-system-x86_64
-accel tcg, alternating, medians of --runs runs each; plus each process's peak RSS (ru_maxrss).

The guest is a multiboot image (a.out kludge, 32-bit protected mode, entered by the loader) this script writes: its
first three instructions write 'S' to COM1, then it writes a newline and 0 to the isa-debug-exit port (0xf4), which
ends both VMMs. "First output" is when the 'S' reaches this script through the VMM's stdout: process start, runtime
start-up, machine assembly and loading, three guest instructions, one serial exit. QEMU, like a PC, runs its
firmware (SeaBIOS and its multiboot option ROM) before the image, so its figure includes that; Vessel loads the
image itself and starts at its entry point.

  scripts/startup-bench.py [--runs 10] [--vessel CMD] [--aot BINARY] [--timeout 60]
"""
import argparse
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from benchlib.guest import vessel_command

LOAD_ADDRESS = 0x100000
MULTIBOOT_MAGIC, AOUT_KLUDGE = 0x1BADB002, 0x00010000
# mov dx, 0x3f8; mov al, 'S'; out dx, al; mov al, 10; out dx, al; mov al, 0; out 0xf4, al; hlt; jmp $-1
CODE = bytes([0x66, 0xBA, 0xF8, 0x03, 0xB0, ord("S"), 0xEE, 0xB0, 0x0A, 0xEE, 0xB0, 0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])


def multiboot_image():
    """The image: a multiboot header with the a.out kludge's address fields (load the whole file at 1 MiB, enter
    just after the header), then CODE."""
    header_bytes = 32
    end = LOAD_ADDRESS + header_bytes + len(CODE)
    header = struct.pack("<8I", MULTIBOOT_MAGIC, AOUT_KLUDGE, (-(MULTIBOOT_MAGIC + AOUT_KLUDGE)) & 0xFFFFFFFF,
                         LOAD_ADDRESS, LOAD_ADDRESS, end, end, LOAD_ADDRESS + header_bytes)
    return header + CODE


def run_once(cmd, timeout):
    """Starts cmd; returns (seconds to the guest's 'S', seconds to exit, ru_maxrss KiB) or an error string."""
    start = time.monotonic()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    first, seen = None, b""
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            if first is None and b"S" in seen:
                first = time.monotonic() - start
        if first is None:
            proc.wait()
            err.seek(0)
            return f"no output from the guest (saw {seen[:80]!r}, status {proc.returncode}, stderr {err.read()[-300:]!r})"
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return first, time.monotonic() - start, usage.ru_maxrss
    finally:
        err.close()
        if proc.returncode is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--vessel", help="the framework build's command (default: dotnet src/Vessel.Cli's Release dll)")
    ap.add_argument("--aot", help="a NativeAOT vessel binary (dotnet publish src/Vessel.Cli -c Release -r linux-x64 "
                                  "-p:PublishAot=true -p:InvariantGlobalization=true -o DIR)")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="startup-bench-")
    image = os.path.join(work, "first.mb")
    with open(image, "wb") as f:
        f.write(multiboot_image())
    vessel_args = ["run", "--backend", "emu", "--kernel", image, "--memory", "16M"]
    sides = [("framework", vessel_command(args.vessel) + vessel_args)]
    if args.aot:
        sides.append(("nativeaot", [args.aot] + vessel_args))
    sides.append(("qemu", ["qemu-system-x86_64", "-accel", "tcg", "-m", "16", "-display", "none", "-no-reboot",
                           "-serial", "stdio", "-monitor", "none", "-device",
                           "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", image]))

    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results = {name: [] for name, _ in sides}
    failed = False
    for i in range(args.runs):
        for name, cmd in (sides if i % 2 == 0 else sides[::-1]):
            out = run_once(cmd, args.timeout)
            if isinstance(out, str):
                print(f"run {i + 1}: {name:9} {out}", flush=True)
                failed = True
                continue
            results[name].append(out)
            print(f"run {i + 1}: {name:9} first output {out[0] * 1000:7.1f} ms, exit {out[1] * 1000:7.1f} ms, "
                  f"max RSS {out[2] / 1024:5.1f} MiB", flush=True)

    print()
    med = {}
    for name, runs in results.items():
        if not runs:
            continue
        med[name] = tuple(statistics.median(r[k] for r in runs) for k in range(3))
        print(f"{name:9} medians of {len(runs)}: first output {med[name][0] * 1000:7.1f} ms, exit "
              f"{med[name][1] * 1000:7.1f} ms, max RSS {med[name][2] / 1024:5.1f} MiB")
    if "qemu" in med:
        for name in med:
            if name != "qemu":
                print(f"ratio {name}/qemu: first output {med[name][0] / med['qemu'][0]:.2f}, "
                      f"exit {med[name][1] / med['qemu'][1]:.2f}, max RSS {med[name][2] / med['qemu'][2]:.2f}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    os.remove(image)
    os.rmdir(work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
