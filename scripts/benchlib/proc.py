"""/proc readings of a VMM process: CPU time (the process's, and its threads' by kind) and resident memory."""
import os

TICK = os.sysconf("SC_CLK_TCK")
# How much larger than guest RAM a mapping may be and still be taken for it (a neighbour merged into it).
GUEST_RAM_SLACK_KIB = 16 * 1024


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
    the kernel merged it with a neighbouring anonymous mapping (seen: 5.6 MiB more in a Vessel boot). The
    neighbour's part is taken as fully resident and not counted, so this is a lower bound of the guest RAM the guest
    touched (and VmHWM minus it an upper bound of what the VMM itself costs)."""
    guest, size = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:") and size is not None and guest_kib <= size <= guest_kib + slack_kib:
                guest = max(guest, int(line.split()[1]) - (size - guest_kib))
    return max(guest, 0)


def smaps_by_kind(pid, guest_kib):
    """Resident KiB of pid by kind of mapping, from /proc/PID/smaps: "guest RAM" (an anonymous mapping of guest_kib, or
    up to GUEST_RAM_SLACK_KIB more where the kernel merged it with a neighbour), "code rwx" (anonymous executable: JIT code, Vessel's native arena, QEMU's TCG buffer), "files" (the
    runtime, its libraries and assemblies, the binary), "[heap]" (malloc's brk heap), "stacks", and "anon" (the rest:
    the GC heap's regions, mmap'd malloc arenas, everything else anonymous). Also returns the largest resident
    mappings as (rss KiB, size KiB, perms, name)."""
    kinds, mappings = {}, []
    head = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                head = (parts[1], parts[5] if len(parts) > 5 else "")
            elif first == "Size:":
                size = int(line.split()[1])
            elif first == "Rss:":
                rss = int(line.split()[1])
                perms, name = head
                if guest_kib <= size <= guest_kib + GUEST_RAM_SLACK_KIB and not name:
                    kind = "guest RAM"
                elif name.startswith("[stack") or name == "[anon:stack]":
                    kind = "stacks"
                elif name == "[heap]":
                    kind = "[heap]"
                elif name.startswith("/"):
                    kind = "files"
                elif "x" in perms:
                    kind = "code rwx"
                else:
                    kind = "anon"
                kinds[kind] = kinds.get(kind, 0) + rss
                mappings.append((rss, size, perms, name or "(anon)"))
    mappings.sort(reverse=True)
    return kinds, mappings[:12]
