#!/usr/bin/env python3
"""virtio-net benchmark: Vessel (emu) next to qemu-system-x86_64 -accel tcg with -device virtio-net-pci, same
Debian kernel and initramfs, same network mode:

  user  Vessel's `--net user` (passt) against QEMU's `-netdev user` (libslirp); no root needed. The guest gets
        its address by DHCP and reaches the host's loopback through its gateway address.
  tap   a TAP device in a network namespace the script creates (and removes on every exit path; root needed):
        host side 10.77.0.1/24, guest 10.77.0.2; Vessel's `--net tap=` against QEMU's `-netdev tap` (vhost off).
        Both VMMs and the host-side HTTP server run inside the namespace; no traffic leaves it.

In each guest, after the marker line: host-to-guest is a `wget -O /dev/null` of --mib MiB from an HTTP server this
script runs; guest-to-host is busybox `nc` sending --mib MiB (a file made in the guest's tmpfs first) to a sink this
script runs, which closes once it has them all (busybox nc does not end at the end of its input; its wget
--post-file sends an empty body); both are timed with the guest's own clock (/proc/uptime). The RTT
is the average of busybox `ping -c 10` to the gateway (user) or the host side (tap). Sides alternate; medians of
--runs runs each.

  vsock Vessel's `--vsock` alone (QEMU's vhost-vsock needs KVM; compare it with Vessel's own tap figure): the guest's
        `vsock connect 2 PORT` (scripts/guest/vsock.c) to Unix listeners the script runs at UDS_PORT, Firecracker's
        convention: one sends --mib MiB and closes (host to guest), one is the sink (guest to host).

  scripts/net-bench.py [--mode user|tap|vsock] [--runs 3] [--mib 32] [--timeout 900] [--memory 512]
                       [--guest DIR] [--vessel CMD] [--only vessel|qemu] [--console-log FILE]
"""
import argparse
import http.server
import os
import re
import socket
import socketserver
import statistics
import subprocess
import shutil
import sys
import tempfile
import threading
import time

from benchlib.console import Console
from benchlib.guest import APPEND, MARKER, guest_files, vessel_command
from benchlib.proc import thread_cpu_seconds

TAP_HOST, TAP_GUEST, TAP_NAME = "10.77.0.1", "10.77.0.2", "vbench0"

# The quotes split the tags, so the echo of the typed line never matches them.
DHCP_SETUP = ("printf '#!/bin/sh\\n[ \"$1\" = bound ] || exit 0\\nip addr add $ip/$mask dev $interface\\n"
              "ip route add default via $router\\n' > /s; chmod +x /s; ip link set eth0 up; "
              "udhcpc -i eth0 -s /s -q -n -t 10 >/dev/null 2>&1; "
              "echo NET''GW $(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p') :END\n")
STATIC_SETUP = (f"ip addr add {TAP_GUEST}/24 dev eth0; ip link set eth0 up; "
                f"echo NET''GW {TAP_HOST} :END\n")
GW = re.compile(rb"NETGW ([\d.]+) :END")
# t prints GO and waits for a line from the host, runs its arguments, and prints their status and the uptime
# before and after.
TIMER = ("t(){ echo NET''GO; read x; t0=$(cut -d' ' -f1 /proc/uptime); \"$@\" >/dev/null 2>&1; r=$?; "
         "t1=$(cut -d' ' -f1 /proc/uptime); echo NET''RES $r $t0 $t1 :END; }; echo NET''SET\n")
MTU = re.compile(rb"NETMTU (\d+) :END")
RESULT = re.compile(rb"NETRES (-?\d+) ([\d.]+) ([\d.]+) :END")
PING_OR_END = re.compile(rb"round-trip min/avg/max = [\d.]+/([\d.]+)/[\d.]+ ms|NETPEND")


class BlobServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(blob, received):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            view = memoryview(blob)
            for at in range(0, len(view), 1 << 20):
                self.wfile.write(view[at:at + (1 << 20)])

        def do_POST(self):
            left = int(self.headers.get("Content-Length", "0"))
            got = 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                got += len(chunk)
                left -= len(chunk)
            received.append(got)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


SCHED_MIB = 0  # --threads: the MiB each transfer moves, to print per-thread scheduling figures per MiB
CONSOLE_LOG = None  # --console-log: every console byte and the VMMs' stderr are appended there


def thread_cpu(pid):
    """CPU seconds of pid's threads: (vCPU threads, everything else)."""
    threads = thread_cpu_seconds(pid)
    return threads["vcpu"], threads["device"] + threads["other"]


def thread_sched(pid):
    """Per thread name of pid (and of its children: passt), the schedstat triple summed: CPU ns, ns spent runnable
    but waiting for a core, and time slices run (each wake-up of a thread that blocks starts one)."""
    out = {}
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    triple = [int(v) for v in f.read().split()[:3]]
            except OSError:
                continue
            if p != pid:
                comm = "child:" + comm
            elif not (comm.startswith("vCPU") or comm.startswith("virtio-") or "/TCG" in comm or "passt" in comm
                      or comm.startswith("qemu") or comm.startswith("worker")):
                comm = "other"
            old = out.get(comm, [0, 0, 0])
            out[comm] = [a + b for a, b in zip(old, triple)]
    return out


def sched_delta(before, after, mib):
    """A line of the threads that ran: name cpu s / runnable-waiting s / wake-ups per MiB."""
    cells = []
    for comm, a in sorted(after.items()):
        b = before.get(comm, [0, 0, 0])
        d = [x - y for x, y in zip(a, b)]
        if d[2] > 0:
            cells.append(f"{comm} {d[0] / 1e9:.2f}s/wait {d[1] / 1e9:.2f}s/{d[2] / mib:.0f} per MiB")
    return "; ".join(cells)


IRQS = re.compile(rb"NETIRQ (\d+) (\d+) (\d+) (\d+) :END")
# The guest's interrupt counts of its virtio-net queues (MSI-X vectors named virtioN-input.0 / -output.0), summed
# over its vCPUs, and eth0's packet counts (a GSO frame the device merged counts once).
IRQ_COUNT = ("awk -v rp=$(cat /sys/class/net/eth0/statistics/rx_packets) "
             "-v tp=$(cat /sys/class/net/eth0/statistics/tx_packets) "
             "'/virtio[0-9]*-input/ {for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) r += $i} "
             "/virtio[0-9]*-output/ {for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i} "
             "END {print \"NET\" \"IRQ\", r + 0, t + 0, rp + 0, tp + 0, \":END\"}' /proc/interrupts\n")


def guest_irqs(console):
    """(receive, transmit interrupts, received, sent packets) the guest counted so far on eth0, or None."""
    console.type(IRQ_COUNT)
    m = console.wait_for(IRQS)
    return tuple(int(g) for g in m.groups()) if m else None


def timed(console, command):
    """Runs command through the guest's t function: (seconds, vCPU CPU s, other threads' CPU s, the guest's receive
    and transmit interrupts and packets meanwhile), or an error."""
    irqs_before = guest_irqs(console)
    console.type(f"t {command}\n")
    if not console.wait_for(b"NETGO"):
        return "no GO line (guest stuck or timed out)"
    before = thread_cpu(console.proc.pid)
    sched_before = thread_sched(console.proc.pid)
    console.type("\n")
    m = console.wait_for(RESULT)
    if not m:
        return "no result line (guest stuck or timed out)"
    after = thread_cpu(console.proc.pid)
    if SCHED_MIB:
        print(f"  threads ({command.split()[0]}): {sched_delta(sched_before, thread_sched(console.proc.pid), SCHED_MIB)}",
              flush=True)
    if int(m.group(1)) != 0:
        return f"{command.split()[0]} failed ({int(m.group(1))})"
    irqs_after = guest_irqs(console)
    irqs = tuple(a - b for a, b in zip(irqs_after, irqs_before)) if irqs_before and irqs_after else (-1,) * 4
    return float(m.group(3)) - float(m.group(2)), after[0] - before[0], after[1] - before[1], irqs


def bench_once(cmd, timeout, mib, setup, port, sink_port, received, directions, env=None, log=None):
    """Boots, sets the network up, and measures. Returns {"down","up","rtt"} (seconds/ms or error strings)."""
    console = Console(cmd, time.monotonic() + timeout, log or CONSOLE_LOG) if env is None else \
        with_env(env, lambda: Console(cmd, time.monotonic() + timeout, log))
    try:
        if not console.wait_for(MARKER):
            return {"boot": "no marker (did not boot, or timed out)"}
        console.type(setup)
        gw = console.wait_for(GW)
        if not gw:
            return {"boot": "no network address (DHCP or set-up failed)"}
        host = gw.group(1).decode()
        console.type(TIMER)
        if not console.wait_for(b"NETSET"):
            return {"boot": "the guest did not take the set-up line"}
        out = {}
        console.type(f"ping -c 10 -W 2 {host} 2>&1 | tail -n 1; echo NET''PEND\n")
        m = console.wait_for(PING_OR_END)
        if not m:
            return {"boot": "ping did not finish"}
        out["rtt"] = float(m.group(1)) if m.group(1) else "no ping reply"
        if m.group(1):
            console.wait_for(b"NETPEND")
        if "down" in directions:
            out["down"] = timed(console, f"wget -q -O /dev/null http://{host}:{port}/blob")
        if "up" not in directions:
            return out
        console.type(f"dd if=/dev/zero of=/tmp/u bs=1M count={mib} 2>/dev/null; echo NET''MADE\n")
        if not console.wait_for(b"NETMADE"):
            return {"boot": "could not make the upload file"}
        received.clear()
        up = timed(console, f"sh -c 'nc {host} {sink_port} < /tmp/u'")
        console.type("ip link show eth0 | sed -n 's/.* mtu \\([0-9]*\\).*/NET''MTU \\1 :END/p'\n")
        mtu = console.wait_for(MTU)
        out["mtu"] = int(mtu.group(1)) if mtu else 0
        if not isinstance(up, str) and received != [mib << 20]:
            up = f"the server received {received} bytes, not {mib << 20}"
        elif isinstance(up, str):
            up = f"{up}; the server received {received} bytes of {mib << 20}"
        out["up"] = up
        return out
    finally:
        if env is not None:
            # The emu profiler reports when the VMM ends on SIGTERM (a kill would lose the report).
            console.proc.terminate()
            try:
                console.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        console.close()


def with_env(env, start):
    """start() with env added to this process's environment (the child inherits it), then the environment back."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


VSOCK_DOWN_PORT, VSOCK_UP_PORT = 5001, 5000


def bench_once_vsock(cmd, timeout, mib):
    """Boots with --vsock, then the guest connects to the host (CID 2) twice: to a listener that sends mib MiB and
    closes (down), and to a sink that reads mib MiB (up). Returns {"down","up"} like bench_once."""
    console = Console(cmd, time.monotonic() + timeout, CONSOLE_LOG)
    try:
        if not console.wait_for(MARKER):
            return {"boot": "no marker (did not boot, or timed out)"}
        console.type(TIMER)
        if not console.wait_for(b"NETSET"):
            return {"boot": "the guest did not take the set-up line"}
        out = {"rtt": "n/a", "mtu": "-"}
        out["down"] = timed(console, f"sh -c 'vsock connect 2 {VSOCK_DOWN_PORT} < /dev/null'")
        console.type(f"dd if=/dev/zero of=/tmp/u bs=1M count={mib} 2>/dev/null; echo NET''MADE\n")
        if not console.wait_for(b"NETMADE"):
            return {"boot": "could not make the upload file"}
        VsockHost.received.clear()
        up = timed(console, f"sh -c 'vsock connect 2 {VSOCK_UP_PORT} < /tmp/u'")
        if not isinstance(up, str) and VsockHost.received != [mib << 20]:
            up = f"the host received {VsockHost.received} bytes, not {mib << 20}"
        out["up"] = up
        return out
    finally:
        console.close()


class VsockHost:
    """The host side of Firecracker's vsock convention for one boot: Unix listeners at UDS_5001 (sends the blob, then
    closes) and UDS_5000 (a sink), where UDS is a fresh path (vessel refuses an existing one, and a killed vessel
    leaves its socket behind)."""

    received = []

    def __init__(self, directory, run, blob, mib):
        self.uds = os.path.join(directory, f"v{run}.sock")
        for port, serve in ((VSOCK_DOWN_PORT, self._send), (VSOCK_UP_PORT, serve_sink)):
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(f"{self.uds}_{port}")
            listener.listen(1)
            args = (listener, blob) if port == VSOCK_DOWN_PORT else (listener, mib << 20, VsockHost.received)
            threading.Thread(target=serve, args=args, daemon=True).start()

    @staticmethod
    def _send(listener, blob):
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(blob)


def serve_sink(sink, expected, received):
    """Accepts one connection at a time, reads until it has expected bytes (or the end), records the count, closes.
    It first sends one byte: Debian 12's passt (before its 4e73e9b, 2023-03-27) resets a guest-initiated connection
    whose host side never sends anything after ~25 s (it waits for an ACK of data it never sent), which cut every
    upload slower than that."""
    while True:
        conn, _ = sink.accept()
        got = 0
        with conn:
            conn.sendall(b"\n")
            while got < expected:
                chunk = conn.recv(min(1 << 20, expected - got))
                if not chunk:
                    break
                got += len(chunk)
        received.append(got)


def run_inside(args):
    """Everything but the namespace set-up: the server, both VMMs, the figures."""
    kernel, initrd = guest_files(args.guest)
    vessel = vessel_command(args.vessel)

    blob = os.urandom(args.mib << 20)
    received = []
    server = BlobServer((TAP_HOST if args.mode == "tap" else "127.0.0.1", 0), make_handler(blob, received))
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = socket.socket()
    sink.bind((server.server_address[0], 0))
    sink.listen(1)
    threading.Thread(target=serve_sink, args=(sink, args.mib << 20, received), daemon=True).start()

    if args.mode == "tap":
        vessel_net, setup = ["--net", f"tap={TAP_NAME}"], STATIC_SETUP
        qemu_net = ["-netdev", f"tap,id=n0,ifname={TAP_NAME},script=no,downscript=no,vhost=off"]
    else:
        vessel_net, setup = ["--net", "user"], DHCP_SETUP
        qemu_net = ["-netdev", "user,id=n0"]
    vessel_cmd = vessel + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd, "--append", APPEND,
                           "--memory", f"{args.memory}M"] + vessel_net
    qemu_cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(args.memory), "-display", "none", "-no-reboot",
                "-name", "net-bench,debug-threads=on", "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", initrd, "-append", APPEND,
                ] + qemu_net + ["-device", "virtio-net-pci,netdev=n0,disable-legacy=on"]
    vsock_dir = tempfile.mkdtemp(prefix="net-bench-vsock-") if args.mode == "vsock" else None

    print(f"mode {args.mode}, {args.mib} MiB each way; load average at start: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    sides = [("qemu", qemu_cmd), ("vessel", vessel_cmd)]
    if args.baseline:
        # An earlier build of Vessel, as a third side in the rotation: before/after in one run.
        sides.append(("before", vessel_command(args.baseline) + vessel_cmd[len(vessel):]))
    results = {side: [] for side, _ in sides}
    for i in range(args.runs):
        for side, cmd in sides[i % len(sides):] + sides[:i % len(sides)]:
            if args.only and side != args.only or args.mode == "vsock" and side == "qemu":
                continue
            if args.mode == "vsock":
                # Each side its own socket path, and its own build (a baseline side runs its command's binary).
                host = VsockHost(vsock_dir, f"{i}-{side}", blob, args.mib)
                binary = cmd[:len(cmd) - (len(vessel_cmd) - len(vessel))]
                out = bench_once_vsock(binary + ["run", "--backend", "emu", "--kernel", kernel, "--initrd", initrd,
                                                 "--append", APPEND, "--memory", f"{args.memory}M",
                                                 "--vsock", f"cid=3,uds={host.uds}"], args.timeout, args.mib)
            elif args.profile and side == "vessel":
                with open(args.profile, "ab") as log:
                    out = bench_once(cmd, args.timeout, args.mib, setup, port, sink.getsockname()[1], received,
                                     args.directions, {"VESSEL_EMU_PROFILE": "1"}, log)
            else:
                out = bench_once(cmd, args.timeout, args.mib, setup, port, sink.getsockname()[1], received,
                                 args.directions)
            if "boot" in out:
                print(f"run {i + 1}: {side:6} {out['boot']}", flush=True)
                continue
            cells = []
            for key in ("down", "up"):
                v = out.get(key, "not run")
                cells.append(f"{key} {v}" if isinstance(v, str) else
                             f"{key} {args.mib / v[0]:7.2f} MiB/s ({v[0]:.2f} s; CPU: vCPU {v[1]:.2f} s, "
                             f"other threads {v[2]:.2f} s; guest interrupts rx {v[3][0]} tx {v[3][1]}, "
                             f"packets rx {v[3][2]} tx {v[3][3]})")
            rtt = out["rtt"]
            cells.append(f"rtt {rtt}" if isinstance(rtt, str) else f"rtt {rtt:.2f} ms")
            cells.append(f"guest mtu {out.get('mtu', '?')}")
            print(f"run {i + 1}: {side:6} " + ", ".join(cells), flush=True)
            results[side].append(out)

    print()
    med = {}
    for side, outs in results.items():
        if args.only and side != args.only or args.mode == "vsock" and side == "qemu":
            continue
        cells = []
        for key in ("down", "up"):
            vs = [o[key][0] for o in outs if not isinstance(o.get(key, ""), str)]
            if vs:
                med[(side, key)] = args.mib / statistics.median(vs)
                cells.append(f"{key} {med[(side, key)]:.2f} MiB/s ({len(vs)} runs)")
            else:
                cells.append(f"{key} n/a")
        rtts = [o["rtt"] for o in outs if not isinstance(o["rtt"], str)]
        cells.append(f"rtt {statistics.median(rtts):.2f} ms" if rtts else "rtt n/a")
        print(f"{side:6} median " + ", ".join(cells))
    for key in ("down", "up"):
        for side in ("vessel", "before"):
            if (side, key) in med and ("qemu", key) in med:
                print(f"{key:4} ratio {side}/qemu throughput: {med[(side, key)] / med[('qemu', key)]:.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    if vsock_dir:
        shutil.rmtree(vsock_dir, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("user", "tap", "vsock"), default="user")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=32, help="MiB moved each way")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per boot and all measurements")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB")
    ap.add_argument("--guest")
    ap.add_argument("--vessel")
    ap.add_argument("--only", choices=("vessel", "qemu"))
    ap.add_argument("--baseline", metavar="CMD", help="an earlier vessel (shell words) run as a third side, 'before'")
    ap.add_argument("--threads", action="store_true", help="print each thread's CPU, time waiting for a core and "
                    "wake-ups per MiB (schedstat), the VMM's children (passt) included")
    ap.add_argument("--console-log", help="append both VMMs' console output and stderr to this file")
    ap.add_argument("--directions", default="down,up", type=lambda v: v.split(","),
                    help="down, up or both (user and tap modes)")
    ap.add_argument("--profile", metavar="FILE", help="Vessel with VESSEL_EMU_PROFILE=1, ended by SIGTERM so the "
                    "profiler reports; its console and stderr (the report) are appended to FILE")
    ap.add_argument("--inside-namespace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global CONSOLE_LOG, SCHED_MIB
    if args.threads:
        SCHED_MIB = args.mib
    if args.console_log:
        CONSOLE_LOG = open(args.console_log, "ab")
    if args.mode != "tap" or args.inside_namespace:
        return run_inside(args)

    if os.geteuid() != 0:
        ap.error("--mode tap needs root (it creates a network namespace and a TAP device in it)")
    namespace = f"vessel-netbench-{os.getpid()}"
    subprocess.check_call(["ip", "netns", "add", namespace])
    try:
        def inside(*cmd):
            subprocess.check_call(["ip", "netns", "exec", namespace, *cmd])
        inside("ip", "link", "set", "lo", "up")
        inside("ip", "tuntap", "add", "dev", TAP_NAME, "mode", "tap")
        inside("ip", "addr", "add", f"{TAP_HOST}/24", "dev", TAP_NAME)
        inside("ip", "link", "set", TAP_NAME, "up")
        return subprocess.call(["ip", "netns", "exec", namespace, sys.executable, os.path.abspath(__file__),
                                "--inside-namespace"] + sys.argv[1:])
    finally:
        subprocess.call(["ip", "netns", "del", namespace])


if __name__ == "__main__":
    sys.exit(main())
