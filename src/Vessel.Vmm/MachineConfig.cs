using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Virtio.Block;

namespace Vessel.Vmm;

/// <summary>What to build: the PC machine of DESIGN.md with this much RAM, these vCPUs and this kernel.</summary>
public sealed record MachineConfig
{
    public const ulong MinimumMemoryBytes = 1UL << 20;

    /// <summary>Guest RAM in bytes (rounded up to a whole page); at least 1 MiB.</summary>
    public required ulong MemoryBytes { get; init; }

    public int VcpuCount { get; init; } = 1;

    /// <summary>The kernel image, loaded by Vessel.Boot. Null builds a machine with nothing loaded and vCPU 0
    /// in its reset state (tests and callers that fill guest memory themselves).</summary>
    public ReadOnlyMemory<byte>? Kernel { get; init; }

    public ReadOnlyMemory<byte>? Initrd { get; init; }

    public string CommandLine { get; init; } = "";

    /// <summary>The kernel's file name, for formats that show it to the kernel (multiboot's command line).</summary>
    public string? KernelName { get; init; }

    /// <summary>Where COM1's transmitter writes; null discards guest output.</summary>
    public Stream? SerialOutput { get; init; }

    /// <summary>False leaves the buses empty (tests that place their own devices).</summary>
    public bool StandardDevices { get; init; } = true;

    /// <summary>virtio-blk disks on the PCI bus, in slot order from 00:01.0 (the guest sees vda, vdb, ...).</summary>
    public IReadOnlyList<VirtioBlockOptions> Disks { get; init; } = [];

    /// <summary>virtio-net devices, in slot order after the disks (the guest sees eth0, eth1, ...).</summary>
    public IReadOnlyList<Vessel.Virtio.Net.NetworkOptions> Networks { get; init; } = [];

    /// <summary>A virtio-vsock device (`--vsock`), or none.</summary>
    public Vessel.Virtio.Vsock.VsockOptions? Vsock { get; init; }

    /// <summary>A virtio-rng device on the PCI bus (the guest's /dev/hwrng), fed from the host's CSPRNG.</summary>
    public bool VirtioRng { get; init; }

    /// <summary>The virtio-rng's rate limit; null keeps the device's own cap (<see cref="Vessel.Virtio.Entropy.VirtioRng.DefaultLimit"/>).</summary>
    public Vessel.Devices.RateLimiting.RateLimit? VirtioRngRateLimit { get; init; }

    /// <summary>A virtio-console device on the PCI bus (the guest's hvc0); its input comes through
    /// <see cref="Machine.SendToVirtioConsole"/>.</summary>
    public bool VirtioConsole { get; init; }

    /// <summary>Where hvc0's output goes; null discards it. May be the same stream as <see cref="SerialOutput"/>
    /// only if it is safe for two writers (Stream.Synchronized).</summary>
    public Stream? VirtioConsoleOutput { get; init; }

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
