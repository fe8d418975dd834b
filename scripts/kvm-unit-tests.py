#!/usr/bin/env python3
"""Run kvm-unit-tests (x86) under QEMU TCG and under `vessel run`, side by side, and write the table.

kvm-unit-tests is GPL: build it outside this repository (see docs/conformance.md) and point --kut at it.
A test passes when the guest ends through isa-debug-exit with status 0 (process exit 1); status 77
(process exit 155) is a skip; anything else, or the timeout, is a failure.
"""
import argparse
import configparser
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def parse_tests(cfg_path, want_arch):
    text = cfg_path.read_text()
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    tests = []
    for name in parser.sections():
        sec = parser[name]
        arch = sec.get("arch", "").strip()
        if arch and arch != want_arch:
            continue
        tests.append({
            "name": name,
            "file": sec.get("file").strip(),
            "smp": sec.get("smp", "1").strip(),
            "args": sec.get("test_args", "").strip().strip("'\""),
            "qemu_params": sec.get("qemu_params", "").strip(),
            "accel": sec.get("accel", "").strip(),
            "timeout": sec.get("timeout", "90").strip(),
        })
    return tests


def classify(rc, timed_out):
    if timed_out:
        return "TIMEOUT"
    # 77 is kvm-unit-tests' own "nothing ran" status, as its run_tests.sh reads it.
    return {1: "PASS", 155: "SKIP", 77: "SKIP"}.get(rc, f"FAIL({rc})")


def run(cmd, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = p.stdout.decode(errors="replace")
        result = classify(p.returncode, False)
        # A VMM error also exits 1, like a debug-exit write of 0: Vessel's own error line tells them apart.
        if result == "PASS" and any(line.startswith("vessel: ") and "error" in line for line in out.splitlines()):
            result = "FAIL(vmm)"
        return result, time.monotonic() - start, out
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        return classify(None, True), time.monotonic() - start, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kut", required=True, help="built kvm-unit-tests tree")
    ap.add_argument("--vessel", default="", help="command that runs vessel, e.g. 'dotnet src/Vessel.Cli/bin/Release/net10.0/vessel.dll'")
    ap.add_argument("--qemu", action="store_true", help="also run QEMU TCG")
    ap.add_argument("--tier", default="", help="vessel's --emu-tier (auto, native, interp); default: vessel's own")
    ap.add_argument("--only", default="", help="comma-separated test names")
    ap.add_argument("--arch", default="x86_64",
                    help="i386 for the 32-bit tests (taskswitch, taskswitch2): a tree configured with --arch=i386")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--logs", default="", help="directory for per-test output")
    ap.add_argument("--out", default="", help="markdown file to write")
    a = ap.parse_args()

    kut = Path(a.kut)
    tests = parse_tests(kut / "x86" / "unittests.cfg", a.arch)
    if a.only:
        wanted = set(a.only.split(","))
        tests = [t for t in tests if t["name"] in wanted]
    logs = Path(a.logs) if a.logs else None
    if logs:
        logs.mkdir(parents=True, exist_ok=True)

    rows = []
    for t in tests:
        flat = kut / "x86" / t["file"]
        timeout = min(a.timeout, float(t["timeout"].rstrip("s") or 90))
        row = {"name": t["name"], "load": os.getloadavg()[0]}
        if a.qemu:
            cmd = ["qemu-system-x86_64", "--no-reboot", "-nodefaults", "-device", "pc-testdev",
                   "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none", "-serial", "stdio",
                   "-device", "pci-testdev", "-machine", "accel=tcg", "-kernel", str(flat), "-smp", t["smp"]]
            cmd += shlex.split(t["qemu_params"])
            if t["args"]:
                cmd += ["-append", t["args"]]
            row["qemu"], row["qemu_s"], out = run(cmd, timeout)
            if logs:
                (logs / f"{t['name']}.qemu.log").write_text(out)
        if a.vessel:
            cmd = shlex.split(a.vessel) + ["run", "--kernel", str(flat), "--cpus", t["smp"], "--memory", "128M",
                                           "--serial", "stdio", "--backend", "emu"]
            if a.tier:
                cmd += ["--emu-tier", a.tier]
            if t["args"]:
                cmd += ["--append", t["args"]]
            row["vessel"], row["vessel_s"], out = run(cmd, timeout)
            if logs:
                (logs / f"{t['name']}.vessel.log").write_text(out)
        rows.append(row)
        times = " ".join(f"{k[:-2]}={row[k]:.0f}s" for k in ("qemu_s", "vessel_s") if k in row)
        # The machine is shared: a TIMEOUT means little without the load it ran under.
        print(t["name"], row.get("qemu", ""), row.get("vessel", ""), times, f"load={row['load']:.0f}", flush=True)

    if a.out:
        lines = ["| test | QEMU TCG | Vessel emu |", "| --- | --- | --- |"]
        for r in rows:
            lines.append(f"| {r['name']} | {r.get('qemu', '-')} | {r.get('vessel', '-')} |")
        Path(a.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
