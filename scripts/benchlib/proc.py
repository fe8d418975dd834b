"""/proc readings of a VMM process: CPU time (the process's, and its threads' by kind) and resident memory."""
import os

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    """User + system CPU seconds of pid (/proc/PID/stat, in clock ticks), threads that already exited included."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu_seconds(pid):
    """CPU seconds of pid's live threads by kind, from their schedstat (nanoseconds): "vcpu" (Vessel's "vCPU n",
    QEMU's "CPU n/TCG" or "CPU n/KVM" with debug-threads=on), "device" (Vessel's device workers, "virtio-NAME")
    and "other" (everything else)."""
    out = {"vcpu": 0, "device": 0, "other": 0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue
        if comm.startswith("vCPU") or comm.endswith("/TCG") or comm.endswith("/KVM"):
            out["vcpu"] += ns
        elif comm.startswith("virtio-"):
            out["device"] += ns
        else:
            out["other"] += ns
    return {kind: ns / 1e9 for kind, ns in out.items()}


def status_kib(pid, *fields):
    """The named fields of /proc/PID/status ("VmRSS", "VmHWM", ...) in KiB, in order; None where absent."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name = line.split(":", 1)[0]
            if name in fields:
                found[name] = int(line.split()[1])
    return tuple(found.get(name) for name in fields)


def guest_ram_rss_kib(pid, guest_kib, slack_kib):
    """Resident KiB of pid's guest-RAM mapping, found in smaps by its size: guest_kib, or up to slack_kib more where
    the kernel merged it with a neighbouring anonymous mapping (whose resident pages then count as guest RAM)."""
    guest, size = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:") and size is not None and guest_kib <= size <= guest_kib + slack_kib:
                guest = max(guest, int(line.split()[1]))
    return guest
