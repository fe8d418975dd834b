using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Virtio.Net;
using Vessel.Virtio.Vsock;

namespace Vessel.Cli.Api;

/// <summary>The VM being configured through the API or a config file, in Firecracker's terms. Every setter
/// validates with the rules `vessel run`'s flags use (<see cref="RunOptions"/>, <see cref="InputFile"/>) and
/// throws a <see cref="CliException"/> naming the field before anything changes; <see cref="ToRunOptions"/>
/// makes the one machine model `vessel run` boots. Immutable: a refused request leaves the previous instance.</summary>
public sealed record VmResources
{
    /// <summary>Firecracker's defaults for a machine-config never PUT.</summary>
    public static readonly MachineConfiguration DefaultMachine = new() { VcpuCount = 1, MemSizeMib = 128, HugePages = "None" };

    /// <summary>Used when boot_args is absent: Firecracker's reboot=k panic=1, and COM1 as the console (Vessel's
    /// virtio devices are on PCI, so Firecracker's pci=off is not in it).</summary>
    public const string DefaultBootArgs = "console=ttyS0 reboot=k panic=1 nokaslr acpi=off";

    public BootSource? BootSource { get; init; }
    public IReadOnlyList<Drive> Drives { get; init; } = [];
    public IReadOnlyList<NetworkInterface> NetworkInterfaces { get; init; } = [];
    public VsockDevice? Vsock { get; init; }
    public MachineConfiguration Machine { get; init; } = DefaultMachine;
    public SerialDevice? Serial { get; init; }
    public EntropyDevice? Entropy { get; init; }
    public LoggerConfig? Logger { get; init; }
    public MetricsConfig? Metrics { get; init; }

    public VmResources WithBootSource(BootSource boot)
    {
        InputFile.CheckRegularFile("kernel_image_path", boot.KernelImagePath);
        if (boot.InitrdPath is not null) InputFile.CheckRegularFile("initrd_path", boot.InitrdPath);
        return this with { BootSource = boot };
    }

    public VmResources WithDrive(string pathId, Drive drive)
    {
        if (drive.DriveId != pathId)
            throw Fault($"drive_id '{drive.DriveId}' does not match the id in the path ('{pathId}')");
        CheckDriveId(drive.DriveId);
        if (drive.Socket is not null) throw Fault("socket: vhost-user drives are not supported");
        if (drive.PathOnHost is null) throw Fault("path_on_host is required");
        InputFile.CheckRegularFile("path_on_host", drive.PathOnHost);
        drive = drive with { RateLimiter = RateLimitOption.Normalise(drive.RateLimiter) };
        if (drive.CacheType is not null and not ("Unsafe" or "Writeback"))
            throw Fault($"cache_type '{drive.CacheType}' is not one of Unsafe, Writeback");
        if (drive.IoEngine is not null and not ("Sync" or "Async"))
            throw Fault($"io_engine '{drive.IoEngine}' is not one of Sync, Async");
        if (drive.IsRootDevice && Drives.Any(d => d.IsRootDevice && d.DriveId != drive.DriveId))
            throw Fault($"is_root_device: drive '{Drives.First(d => d.IsRootDevice).DriveId}' is already the root device");
        var drives = Drives.ToList();
        int index = drives.FindIndex(d => d.DriveId == drive.DriveId);
        if (index >= 0) drives[index] = drive;
        else drives.Add(drive);
        return this with { Drives = drives };
    }

    /// <summary>PATCH /drives/{id}: a new backing file (or the same one) and new rate limiter buckets for a drive
    /// already PUT; the running device follows (<see cref="VmmController"/>).</summary>
    public VmResources WithDriveUpdate(string pathId, PartialDrive update)
    {
        if (update.DriveId != pathId)
            throw Fault($"drive_id '{update.DriveId}' does not match the id in the path ('{pathId}')");
        var drive = Drives.FirstOrDefault(d => d.DriveId == pathId)
            ?? throw Fault($"drive_id '{pathId}': no such drive (PUT /drives/{pathId} first)");
        drive = drive with { RateLimiter = RateLimitOption.Merge(drive.RateLimiter, update.RateLimiter) };
        if (update.PathOnHost is not null)
        {
            InputFile.CheckRegularFile("path_on_host", update.PathOnHost);
            drive = drive with { PathOnHost = update.PathOnHost };
        }
        return WithDrive(pathId, drive);
    }

    /// <summary>PUT /network-interfaces/{id}: a virtio-net device, checked by `--net`'s rules (<see cref="NetOption"/>).</summary>
    public VmResources WithNetworkInterface(string pathId, NetworkInterface iface)
    {
        if (iface.IfaceId != pathId)
            throw Fault($"iface_id '{iface.IfaceId}' does not match the id in the path ('{pathId}')");
        CheckId("iface_id", iface.IfaceId);
        NetOption.FromInterface(iface.HostDevName, iface.GuestMac);
        iface = iface with
        {
            RxRateLimiter = RateLimitOption.Normalise(iface.RxRateLimiter),
            TxRateLimiter = RateLimitOption.Normalise(iface.TxRateLimiter),
        };
        var ifaces = NetworkInterfaces.ToList();
        int index = ifaces.FindIndex(i => i.IfaceId == iface.IfaceId);
        if (index >= 0) ifaces[index] = iface;
        else ifaces.Add(iface);
        var tapNames = ifaces.Where(i => !i.HostDevName.StartsWith(NetOption.UserModePrefix, StringComparison.Ordinal))
            .GroupBy(i => i.HostDevName).FirstOrDefault(g => g.Count() > 1);
        if (tapNames is not null)
            throw Fault($"host_dev_name: '{tapNames.Key}' is already used by interface '{tapNames.First().IfaceId}'");
        NetOption.CheckDistinctMacs(ToNetworkOptions(ifaces), "guest_mac");
        return this with { NetworkInterfaces = ifaces };
    }

    /// <summary>PATCH /network-interfaces/{id}: only rate limiters, as in Firecracker.</summary>
    public VmResources WithNetworkInterfaceUpdate(string pathId, PartialNetworkInterface update)
    {
        if (update.IfaceId != pathId)
            throw Fault($"iface_id '{update.IfaceId}' does not match the id in the path ('{pathId}')");
        var ifaces = NetworkInterfaces.ToList();
        int index = ifaces.FindIndex(i => i.IfaceId == pathId);
        if (index < 0)
            throw Fault($"iface_id '{pathId}': no such network interface (PUT /network-interfaces/{pathId} first)");
        ifaces[index] = ifaces[index] with
        {
            RxRateLimiter = RateLimitOption.Merge(ifaces[index].RxRateLimiter, update.RxRateLimiter),
            TxRateLimiter = RateLimitOption.Merge(ifaces[index].TxRateLimiter, update.TxRateLimiter),
        };
        return this with { NetworkInterfaces = ifaces };
    }

    /// <summary>PUT /vsock: the virtio-vsock device, checked by `--vsock`'s rules; the socket path must not exist
    /// (Firecracker binds it at this request).</summary>
    public VmResources WithVsock(VsockDevice vsock)
    {
        VsockOption.CheckCid(vsock.GuestCid < 0 ? 0 : (ulong)vsock.GuestCid, $"guest_cid {vsock.GuestCid}");
        CheckWritablePath("uds_path", vsock.UdsPath);
        if (File.Exists(vsock.UdsPath))
            throw Fault($"{vsock.UdsPath}: uds_path already exists (a stale socket? remove it)");
        return this with { Vsock = vsock };
    }

    public VmResources WithMachine(MachineConfiguration machine)
    {
        RunOptions.CheckCpus(machine.VcpuCount, "vcpu_count");
        CheckMemoryMib(machine.MemSizeMib);
        if (machine.Smt) throw Fault("smt: simultaneous multithreading is not supported");
        if (machine.HugePages is not (null or "None")) throw Fault($"huge_pages '{machine.HugePages}' is not supported (only None)");
        if (machine.CpuTemplate is not null and not "None")
            throw Fault($"cpu_template '{machine.CpuTemplate}' is not supported (only None)");
        return this with { Machine = machine with { HugePages = "None" } };
    }

    public VmResources WithMachineUpdate(MachineConfigurationUpdate update) => WithMachine(Machine with
    {
        VcpuCount = update.VcpuCount ?? Machine.VcpuCount,
        MemSizeMib = update.MemSizeMib ?? Machine.MemSizeMib,
        Smt = update.Smt ?? Machine.Smt,
        TrackDirtyPages = update.TrackDirtyPages ?? Machine.TrackDirtyPages,
        HugePages = update.HugePages ?? Machine.HugePages,
        CpuTemplate = update.CpuTemplate ?? Machine.CpuTemplate,
    });

    public VmResources WithSerial(SerialDevice serial)
    {
        if (serial.SerialOutPath is { } path) CheckWritablePath("serial_out_path", path);
        return this with { Serial = serial };
    }

    public VmResources WithEntropy(EntropyDevice entropy)
    {
        return this with { Entropy = entropy with { RateLimiter = RateLimitOption.Normalise(entropy.RateLimiter) } };
    }

    public VmResources WithLogger(LoggerConfig logger)
    {
        if (logger.Level is not null) ApiLog.ParseLevel(logger.Level);
        if (logger.LogPath is { } path) CheckWritablePath("log_path", path);
        return this with { Logger = logger };
    }

    public VmResources WithMetrics(MetricsConfig metrics)
    {
        CheckWritablePath("metrics_path", metrics.MetricsPath);
        return this with { Metrics = metrics };
    }

    /// <summary>The whole configuration, as GET /vm/config shows it and a --config-file holds it.</summary>
    public FullVmConfiguration ToFull() => new()
    {
        BootSource = BootSource,
        Drives = Drives,
        MachineConfig = Machine,
        Logger = Logger,
        Metrics = Metrics,
        Entropy = Entropy,
        Serial = Serial,
        NetworkInterfaces = NetworkInterfaces,
        Vsock = Vsock,
    };

    /// <summary>A configuration file applied in the API's order, each section through the same setter.</summary>
    public static VmResources FromFull(FullVmConfiguration full)
    {
        var resources = new VmResources();
        if (full.Logger is not null) resources = resources.WithLogger(full.Logger);
        if (full.Metrics is not null) resources = resources.WithMetrics(full.Metrics);
        if (full.BootSource is not null) resources = resources.WithBootSource(full.BootSource);
        foreach (var drive in full.Drives ?? []) resources = resources.WithDrive(drive.DriveId, drive);
        if (full.MachineConfig is not null) resources = resources.WithMachine(full.MachineConfig);
        foreach (var iface in full.NetworkInterfaces ?? []) resources = resources.WithNetworkInterface(iface.IfaceId, iface);
        if (full.Vsock is not null) resources = resources.WithVsock(full.Vsock);
        if (full.Entropy is not null) resources = resources.WithEntropy(full.Entropy);
        if (full.Serial is not null) resources = resources.WithSerial(full.Serial);
        return resources;
    }

    /// <summary>What InstanceStart boots: the same options `vessel run` builds from its flags. The root drive is
    /// vda and the command line says so, as Firecracker's root=/dev/vda.</summary>
    public RunOptions ToRunOptions(BackendChoice backend, LogLevel logLevel)
    {
        var boot = BootSource ?? throw Fault("boot-source: no kernel configured (PUT /boot-source first)");
        var ordered = DriveBootOrder();
        string commandLine = boot.BootArgs ?? DefaultBootArgs;
        if (ordered.FirstOrDefault(d => d.IsRootDevice) is { } root)
        {
            string device = root.PartUuid is { } uuid ? $"PARTUUID={uuid}" : "/dev/vda";
            commandLine = $"{commandLine} root={device} {(root.IsReadOnly == true ? "ro" : "rw")}";
        }
        var serial = Serial?.SerialOutPath is { } serialPath ? new SerialTarget(SerialKind.File, serialPath) : SerialTarget.Stdio;
        return new RunOptions(boot.KernelImagePath, boot.InitrdPath, commandLine, (ulong)Machine.MemSizeMib << 20,
            Machine.VcpuCount, backend, serial, logLevel)
        {
            Disks = [.. ordered.Select(d => new DiskOption(d.PathOnHost!, d.IsReadOnly == true, d.DriveId) { RateLimit = RateLimitOption.ToLimit(d.RateLimiter) })],
            Rng = Entropy is not null,
            RngRateLimit = RateLimitOption.ToLimit(Entropy?.RateLimiter),
            Networks = ToNetworkOptions(NetworkInterfaces),
            Vsock = Vsock is { } v ? new VsockOptions((ulong)v.GuestCid, v.UdsPath) : null,
        };
    }

    /// <summary>The drives as the machine has them: the root device first (vda), the others in PUT order.</summary>
    public List<Drive> DriveBootOrder() => [.. Drives.Where(d => d.IsRootDevice).Concat(Drives.Where(d => !d.IsRootDevice))];

    private static NetworkOptions[] ToNetworkOptions(IEnumerable<NetworkInterface> ifaces) =>
        [.. ifaces.Select(i => NetOption.FromInterface(i.HostDevName, i.GuestMac) with
        {
            ReceiveRateLimit = RateLimitOption.ToLimit(i.RxRateLimiter),
            TransmitRateLimit = RateLimitOption.ToLimit(i.TxRateLimiter),
        })];

    public static CliException Fault(string message) => CliException.Usage(message);

    private static void CheckDriveId(string id) => CheckId("drive_id", id);

    private static void CheckId(string field, string id)
    {
        if (id.Length == 0 || id.Length > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            throw Fault($"{field} '{id}' must be 1 to 64 letters, digits or underscores");
    }

    private static void CheckMemoryMib(long mib)
    {
        string what = $"mem_size_mib {mib}";
        if (mib < 1) throw Fault($"{what} is too small: the guest needs at least 1M");
        if (mib > (long)(RunOptions.MaximumMemoryBytes >> 20)) RunOptions.CheckMemory(ulong.MaxValue, what);
        RunOptions.CheckMemory((ulong)mib << 20, what);
    }

    private static void CheckWritablePath(string field, string path)
    {
        if (path.Length == 0) throw Fault($"{field} needs a file name");
        if (Directory.Exists(path)) throw Fault($"{path}: {field} needs a file to write, and this is a directory");
        string? parent = Path.GetDirectoryName(Path.GetFullPath(path));
        if (parent is not null && !Directory.Exists(parent)) throw Fault($"{path}: no such directory ({field})");
    }
}
