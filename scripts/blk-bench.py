#!/usr/bin/env python3
"""virtio-blk benchmark: Vessel (emu) next to qemu-system-x86_64 -accel tcg with -device virtio-blk-pci, on the
same raw scratch image and the same Debian guest. In each guest, once the marker line is out, the console is
told to run `dd bs=1M count=256` to /dev/vda (oflag=direct, from /dev/zero) and then from it (iflag=direct, to
/dev/null), timed with the guest's own clock (/proc/uptime); the guest's /sys/block/vda/stat gives the number of
requests the driver sent. The host reads the VMM process's CPU time (/proc/PID/stat, and the vCPU threads' own)
just before and after each dd, for CPU time per request (process ticks are 10 ms: "outside the vCPU threads"
is the process's ticks minus the vCPU threads' schedstat, so it is coarse; Vessel's device worker thread is
measured on its own from its schedstat). Sides alternate; medians of --runs runs each.

  scripts/blk-bench.py [--runs 3] [--timeout 900] [--memory 512] [--mib 256] [--image-mib 320]
                       [--guest DIR] [--vessel CMD] [--image PATH] [--only vessel|qemu] [--control]

DIR defaults to the default guest (scripts/build-guest.sh builds it); CMD defaults to the Release build of
src/Vessel.Cli (built first if missing). The image (default: a temporary file, removed at the end) is written
in full with zeros first, so neither side reads holes, and both find it in the host's page cache.
"""
import argparse
import os
import re
import statistics
import sys
import tempfile
import time

from benchlib.console import Console
from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import process_cpu_seconds, thread_cpu_seconds

# Typed on the guest's shell. The quotes split the tags, so the echo of the typed line never matches them.
# b prints GO and waits for a line from the host (which reads the VMM's CPU time first), runs dd, and prints
# the dd exit code, /proc/uptime before and after, /sys/block/vda/stat before and after, and dd's last line.
GUEST_SETUP = ("while [ ! -b /dev/vda ]; do sleep 0.1; done; "
               "b(){ echo BLK''GO; read x; s0=$(cat /sys/block/vda/stat); t0=$(cut -d' ' -f1 /proc/uptime); "
               "dd \"$@\" 2>/tmp/e; r=$?; t1=$(cut -d' ' -f1 /proc/uptime); s1=$(cat /sys/block/vda/stat); "
               "echo BLK''RES $r $t0 $t1 : $s0 : $s1 : $(tail -n 1 /tmp/e) :END; }; echo BLK''SET\n")
RESULT = re.compile(rb"BLKRES (-?\d+) ([\d.]+) ([\d.]+) : ([\d ]+) : ([\d ]+) : (.*) :END")


def cpu_seconds(pid):
    """(process, vCPU threads, device threads) CPU seconds of pid. The process figure includes threads that
    already exited (QEMU's I/O workers come and go); the threads' own come from their schedstat. Vessel's device
    workers are "virtio-NAME"; QEMU has no device thread of its own (the main loop and the "worker" pool serve
    virtio-blk)."""
    threads = thread_cpu_seconds(pid)
    return process_cpu_seconds(pid), threads["vcpu"], threads["device"]


def run_dd(console, args, mib):
    """Runs one dd in the guest. Returns a dict (seconds, requests, cpu, vcpu) or an error string."""
    console.type(f"b {args} bs=1M count={mib}\n")
    if not console.wait_for(b"BLKGO"):
        return "no GO line (guest stuck or timed out)"
    cpu0 = cpu_seconds(console.proc.pid)
    console.type("\n")
    m = console.wait_for(RESULT)
    if not m:
        return "no result line (guest stuck or timed out)"
    cpu1 = cpu_seconds(console.proc.pid)
    rc, t0, t1 = int(m.group(1)), float(m.group(2)), float(m.group(3))
    before, after = ([int(x) for x in m.group(g).split()] for g in (4, 5))
    ddline = m.group(6).decode(errors="replace").strip()
    if rc != 0:
        return f"dd failed ({rc}): {ddline}"
    if not ddline.startswith(f"{mib}+0 records out"):
        return f"dd moved a different amount: {ddline}"
    # /sys/block/vda/stat: reads completed, ..., field 5 writes completed (after merging: requests to the device).
    requests = (after[0] - before[0]) + (after[4] - before[4])
    return {"seconds": t1 - t0, "requests": requests, "cpu": cpu1[0] - cpu0[0], "vcpu": cpu1[1] - cpu0[1],
            "device": cpu1[2] - cpu0[2]}


# What each dd does. "zero" (--control) touches no disk: it is the guest CPU's own cost of filling dd's buffer
# from /dev/zero, which every write pays too.
DD_ARGS = {"write": "if=/dev/zero of=/dev/vda oflag=direct", "read": "if=/dev/vda of=/dev/null iflag=direct",
           "zero": "if=/dev/zero of=/dev/null"}


def bench_once(cmd, timeout, mib, ops):
    """Boots, then runs the dd of each op in order. Returns {op: dict or error string}, or {"boot": error}."""
    console = Console(cmd, time.monotonic() + timeout)
    try:
        if not console.wait_for(MARKER):
            return {"boot": "no marker (did not boot, or timed out)"}
        console.type(GUEST_SETUP)
        if not console.wait_for(b"BLKSET"):
            return {"boot": "the guest did not take the set-up line"}
        return {op: run_dd(console, DD_ARGS[op], mib) for op in ops}
    finally:
        console.close()


def make_image(path, mib):
    """Writes mib MiB of zeros (allocated, not a sparse file)."""
    block = bytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per boot + both dd runs")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB")
    ap.add_argument("--mib", type=int, default=256, help="MiB each dd moves")
    ap.add_argument("--image-mib", type=int, default=320, help="size of the scratch image")
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    ap.add_argument("--image", help="scratch image path (overwritten); default a temporary file")
    ap.add_argument("--only", choices=("vessel", "qemu"), help="run one side only (to check a set-up)")
    ap.add_argument("--control", action="store_true",
                    help="also time dd from /dev/zero to /dev/null in the guest (the write's buffer filling, no disk)")
    args = ap.parse_args()
    if args.image_mib < args.mib:
        ap.error("--image-mib must be at least --mib")

    kernel, initrd = guest_files(args.guest)
    vessel = vessel_command(args.vessel)

    image = args.image or tempfile.mkstemp(prefix="blk-bench-", suffix=".img")[1]
    try:
        make_image(image, args.image_mib)
        vessel_cmd = vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd,
                               "--append", APPEND, "--memory", f"{args.memory}M", "--disk", image]
        qemu_cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(args.memory), "-display", "none",
                    "-no-reboot", "-name", "blk-bench,debug-threads=on", "-serial", "stdio", "-monitor", "none",
                    "-kernel", kernel, "-initrd", initrd, "-append", APPEND,
                    "-drive", f"file={image},format=raw,if=none,id=vda",
                    "-device", "virtio-blk-pci,drive=vda,disable-legacy=on"]
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        ops = ("write", "read", "zero") if args.control else ("write", "read")
        results = {(side, op): [] for side in ("vessel", "qemu") for op in ops}
        for i in range(args.runs):
            # Alternate which side goes first, so a load that drifts during the run hits both alike.
            order = (("qemu", qemu_cmd), ("vessel", vessel_cmd))
            for side, cmd in (order if i % 2 == 0 else order[::-1]):
                if args.only and side != args.only:
                    continue
                out = bench_once(cmd, args.timeout, args.mib, ops)
                if "boot" in out:
                    print(f"run {i + 1}: {side:6} {out['boot']}", flush=True)
                    continue
                for op in ops:
                    r = out[op]
                    if isinstance(r, str):
                        print(f"run {i + 1}: {side:6} {op:5} {r}", flush=True)
                        continue
                    results[(side, op)].append(r)
                    mbs = args.mib * 1048576 / 1e6 / r["seconds"]
                    print(f"run {i + 1}: {side:6} {op:5} {r['seconds']:6.2f} s {mbs:7.1f} MB/s, "
                          f"{r['requests']} requests, process CPU {r['cpu']:.2f} s (vCPU threads {r['vcpu']:.2f} s"
                          + (f", device worker {r['device'] * 1e3:.1f} ms)" if side == "vessel" else ")"),
                          flush=True)

        print()
        ok = True
        for op in ops:
            med = {}
            for side in ("vessel", "qemu"):
                rs = results[(side, op)]
                if args.only and side != args.only:
                    continue
                if len(rs) != args.runs:
                    print(f"{side:6} {op:5} n/a (only {len(rs)} of {args.runs} runs finished)")
                    ok = False
                    continue
                seconds = statistics.median(r["seconds"] for r in rs)
                med[side] = args.mib * 1048576 / 1e6 / seconds
                line = f"{side:6} {op:5} median {med[side]:7.1f} MB/s ({seconds:.2f} s for {args.mib} MiB)"
                if all(r["requests"] for r in rs):
                    per_req = statistics.median(r["cpu"] / r["requests"] * 1e6 for r in rs)
                    rest = statistics.median((r["cpu"] - r["vcpu"]) / r["requests"] * 1e6 for r in rs)
                    device = statistics.median(r["device"] / r["requests"] * 1e6 for r in rs)
                    line += (f", {statistics.median(r['requests'] for r in rs)} requests, process CPU per request "
                             f"{per_req:.0f} us, outside the vCPU threads {rest:.0f} us"
                             + (f", device worker thread {device:.1f} us" if side == "vessel" else ""))
                else:
                    line += f", process CPU {statistics.median(r['cpu'] for r in rs):.2f} s"
                print(line)
            if len(med) == 2:
                print(f"{op:5} ratio vessel/qemu throughput: {med['vessel'] / med['qemu']:.2f}")
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        return 0 if ok else 1
    finally:
        if not args.image:
            os.unlink(image)


if __name__ == "__main__":
    sys.exit(main())
