using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Vessel.Cli.Options;

/// <summary>The validated options of `vessel run`.</summary>
public sealed record RunOptions(
    /// <summary>Null boots the default guest.</summary>
    string? KernelPath,
    string? InitrdPath,
    string CommandLine,
    ulong MemoryBytes,
    int Cpus,
    BackendChoice Backend,
    SerialTarget Serial,
    LogLevel LogLevel)
{
    /// <summary>`--disk` images, in order: vda, vdb, ...</summary>
    public IReadOnlyList<DiskOption> Disks { get; init; } = [];

    /// <summary>`--net` devices, in order: eth0, eth1, ...</summary>
    public IReadOnlyList<Vessel.Virtio.Net.NetworkOptions> Networks { get; init; } = [];

    /// <summary>`--vsock cid=N,uds=PATH`, or none.</summary>
    public Vessel.Virtio.Vsock.VsockOptions? Vsock { get; init; }

    /// <summary>`--console hvc0`: the terminal is the guest's virtio console instead of COM1 (whose output still
    /// goes to the terminal too).</summary>
    public bool ConsoleOnHvc0 { get; init; }

    /// <summary>`--emu-tier` (or VESSEL_EMU_TIER): the software CPU's compiled tier; the kvm backend ignores it.</summary>
    public Vessel.Cpu.EmuTier EmuTier { get; init; } = Vessel.Cpu.EmuTier.Automatic;

    /// <summary>`--rng`: a virtio-rng device.</summary>
    public bool Rng { get; init; }

    /// <summary>The entropy device's rate_limiter (API and config file); null keeps the device's own cap.</summary>
    public Vessel.Devices.RateLimiting.RateLimit? RngRateLimit { get; init; }

    public static bool ParseConsole(string text) => text switch
    {
        "ttyS0" => false,
        "hvc0" => true,
        _ => throw CliException.Usage($"--console '{text}' is not ttyS0 or hvc0"),
    };

    public const ulong MinimumMemoryBytes = 1UL << 20;

    /// <summary>The most RAM a guest can address: the CPU model's 40 physical address bits, less the MMIO hole
    /// that pushes RAM above 3 GiB up to 4 GiB.</summary>
    public const ulong MaximumMemoryBytes = (1UL << 40) - (Hypervisor.PcLayout.HighMemoryStart - Hypervisor.PcLayout.MmioHoleStart);

    /// <summary>The MP table (Vessel.Boot.MpTable) describes at most 254 processors: APIC ID 255 is the broadcast.</summary>
    public const int MaxCpus = 254;

    /// <summary>Turns the raw option texts into options, or throws a usage <see cref="CliException"/>.</summary>
    public static RunOptions FromText(string? kernel, string? initrd, string? append, string memory, string cpus,
        string backend, string serial, string logLevel) => new(
            kernel,
            initrd,
            append ?? (kernel is null ? DefaultGuest.CommandLine : ""),
            ParseMemory(memory),
            ParseCpus(cpus),
            ParseBackend(backend),
            SerialTarget.Parse(serial),
            ParseLogLevel(logLevel));

    public static ulong ParseMemory(string text)
    {
        if (!SizeParser.TryParse(text, SizeParser.MiB, out ulong bytes) && SizeParser.IsWellFormed(text))
            throw CliException.Usage($"--memory {text} is more than a guest can address (at most {SizeParser.Format(MaximumMemoryBytes)})");
        if (bytes == 0 && !SizeParser.IsWellFormed(text))
            throw CliException.Usage($"--memory '{text}' is not a size (e.g. 512M, 1G, 2048K, or a number of MiB)");
        return CheckMemory(bytes, $"--memory {text}");
    }

    /// <summary>The memory rule every way in shares (flags, config file, API); <paramref name="what"/> names the
    /// field and value as the user wrote them ("--memory 0", "mem_size_mib 0").</summary>
    public static ulong CheckMemory(ulong bytes, string what)
    {
        if (bytes < MinimumMemoryBytes)
            throw CliException.Usage($"{what} is too small: the guest needs at least 1M");
        if (bytes > MaximumMemoryBytes)
            throw CliException.Usage($"{what} is more than a guest can address (at most {SizeParser.Format(MaximumMemoryBytes)})");
        return bytes;
    }

    public static int ParseCpus(string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int cpus))
        {
            if (text.Length > 0 && text.All(char.IsAsciiDigit))
                throw CliException.Usage($"--cpus {text} is out of range (1 to {MaxCpus})");
            throw CliException.Usage($"--cpus '{text}' is not a number");
        }
        return CheckCpus(cpus, "--cpus");
    }

    /// <summary>The vCPU-count rule every way in shares; <paramref name="field"/> is "--cpus" or "vcpu_count".</summary>
    public static int CheckCpus(long cpus, string field)
    {
        if (cpus is < 1 or > MaxCpus)
            throw CliException.Usage($"{field} {cpus} is out of range (1 to {MaxCpus})");
        return (int)cpus;
    }

    public static BackendChoice ParseBackend(string text) => text switch
    {
        "auto" => BackendChoice.Auto,
        "kvm" => BackendChoice.Kvm,
        "emu" => BackendChoice.Emu,
        _ => throw CliException.Usage($"--backend '{text}' is not one of auto, kvm, emu"),
    };

    public static LogLevel ParseLogLevel(string text) => text switch
    {
        "error" => LogLevel.Error,
        "warn" => LogLevel.Warning,
        "info" => LogLevel.Information,
        "debug" => LogLevel.Debug,
        "trace" => LogLevel.Trace,
        _ => throw CliException.Usage($"--log-level '{text}' is not one of error, warn, info, debug, trace"),
    };
}
