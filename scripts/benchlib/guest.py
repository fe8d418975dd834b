"""The default Debian guest and the Vessel command the benchmarks boot it with."""
import os
import shlex
import subprocess

MARKER = b"VESSEL-GUEST-READY"
APPEND = "console=ttyS0 nokaslr acpi=off"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest_files(guest_dir=None):
    """(kernel, initrd) of guest_dir, or of the default guest (scripts/build-guest.sh builds it if missing)."""
    guest = guest_dir or subprocess.check_output([os.path.join(ROOT, "scripts/build-guest.sh")]).decode().split()[-1]
    return os.path.join(guest, "vmlinuz"), os.path.join(guest, "initramfs.cpio.gz")


def vessel_command(vessel=None):
    """The command that runs vessel: the given one (shell words), or the Release build of src/Vessel.Cli (built
    first if missing)."""
    if vessel:
        return shlex.split(vessel)
    dll = os.path.join(ROOT, "src/Vessel.Cli/bin/Release/net10.0/vessel.dll")
    if not os.path.exists(dll):
        subprocess.check_call(["dotnet", "build", "-c", "Release", os.path.join(ROOT, "src/Vessel.Cli")])
    return ["dotnet", dll]
