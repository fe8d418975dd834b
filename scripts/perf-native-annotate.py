#!/usr/bin/env python3
"""Annotates the hottest translated blocks of a perf profile made by scripts/perf-native.sh: samples per host
instruction, from the block bytes the native tier wrote to /tmp/perf-PID-vessel.code (perf has no file to read
them from).

  scripts/perf-native-annotate.py PERF.data [--blocks 5] [--pid PID]
"""
import argparse
import collections
import glob
import os
import re
import struct
import subprocess
import tempfile


def read_blocks(path):
    """{start: [bytes, ...]} in the order they were placed (a chunk can be reused)."""
    blocks = collections.defaultdict(list)
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at + 16 <= len(data):
        start, size = struct.unpack_from("<qq", data, at)
        blocks[start].append(data[at + 16:at + 16 + size])
        at += 16 + size
    return blocks


def samples(perf_data):
    """Counter of (symbol, ip) for samples in translated blocks, and the total sample count."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym"], capture_output=True, text=True).stdout
    hits, total = collections.Counter(), 0
    for line in out.splitlines():
        parts = line.split(None, 1)
        if not parts:
            continue
        total += 1
        if len(parts) == 2 and parts[1].startswith("vessel-native@"):
            hits[(parts[1].strip(), int(parts[0], 16))] += 1
    return hits, total


def disassemble(code, start):
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        out = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel",
                              f"--adjust-vma={start:#x}", f.name], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line)
        if m:
            yield int(m.group(1), 16), m.group(2).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("perf_data")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    code_files = [f"/tmp/perf-{args.pid}-vessel.code"] if args.pid else sorted(glob.glob("/tmp/perf-*-vessel.code"), key=os.path.getmtime)
    blocks = read_blocks(code_files[-1])
    hits, total = samples(args.perf_data)
    by_symbol = collections.Counter()
    for (sym, _), n in hits.items():
        by_symbol[sym] += n
    print(f"{sum(by_symbol.values())} of {total} samples ({100 * sum(by_symbol.values()) / max(total, 1):.1f} %) in translated blocks")
    for sym, n in by_symbol.most_common(args.blocks):
        ips = {ip: c for (s, ip), c in hits.items() if s == sym}
        lo = min(ips)
        start = max((s for s in blocks if s <= lo), default=None)
        print(f"\n== {sym}: {n} samples ({100 * n / total:.2f} %), code at {start:#x}")
        if start is None:
            continue
        code = blocks[start][-1]
        for addr, text in disassemble(code, start):
            c = ips.get(addr, 0)
            print(f"{c:6d} {100 * c / n:5.1f}%  {addr - start:5x}: {text}")


if __name__ == "__main__":
    main()
