using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vessel.Cli.Api;

// The bodies of Firecracker's API (src/firecracker/swagger/firecracker.yaml), property for property. Enumerations
// are strings checked by MachineSpecBuilder, so a wrong value's message names the field and the values allowed.

public sealed record BootSource
{
    [JsonPropertyName("kernel_image_path")] public required string KernelImagePath { get; init; }
    [JsonPropertyName("boot_args")] public string? BootArgs { get; init; }
    [JsonPropertyName("initrd_path")] public string? InitrdPath { get; init; }
}

public sealed record Drive
{
    [JsonPropertyName("drive_id")] public required string DriveId { get; init; }
    [JsonPropertyName("is_root_device")] public required bool IsRootDevice { get; init; }
    [JsonPropertyName("path_on_host")] public string? PathOnHost { get; init; }
    [JsonPropertyName("is_read_only")] public bool? IsReadOnly { get; init; }
    [JsonPropertyName("partuuid")] public string? PartUuid { get; init; }
    [JsonPropertyName("cache_type")] public string? CacheType { get; init; }
    [JsonPropertyName("io_engine")] public string? IoEngine { get; init; }
    [JsonPropertyName("rate_limiter")] public RateLimiterConfig? RateLimiter { get; init; }
    [JsonPropertyName("socket")] public string? Socket { get; init; }
}

public sealed record PartialDrive
{
    [JsonPropertyName("drive_id")] public required string DriveId { get; init; }
    [JsonPropertyName("path_on_host")] public string? PathOnHost { get; init; }
    [JsonPropertyName("rate_limiter")] public RateLimiterConfig? RateLimiter { get; init; }
}

public sealed record NetworkInterface
{
    [JsonPropertyName("iface_id")] public required string IfaceId { get; init; }
    /// <summary>A TAP device, or "user:" and `--net user`'s options for Vessel's user-mode network (passt).</summary>
    [JsonPropertyName("host_dev_name")] public required string HostDevName { get; init; }
    [JsonPropertyName("guest_mac")] public string? GuestMac { get; init; }
    [JsonPropertyName("rx_rate_limiter")] public RateLimiterConfig? RxRateLimiter { get; init; }
    [JsonPropertyName("tx_rate_limiter")] public RateLimiterConfig? TxRateLimiter { get; init; }
}

/// <summary>PATCH /network-interfaces/{id}: Firecracker changes only rate limiters this way.</summary>
public sealed record PartialNetworkInterface
{
    [JsonPropertyName("iface_id")] public required string IfaceId { get; init; }
    [JsonPropertyName("rx_rate_limiter")] public RateLimiterConfig? RxRateLimiter { get; init; }
    [JsonPropertyName("tx_rate_limiter")] public RateLimiterConfig? TxRateLimiter { get; init; }
}

/// <summary>Firecracker's TokenBucket: size tokens, refilled from empty in refill_time milliseconds, and a
/// one_time_burst spent first. A size or refill_time of 0 is no limit.</summary>
public sealed record TokenBucketConfig
{
    [JsonPropertyName("size")] public required ulong Size { get; init; }
    [JsonPropertyName("one_time_burst")] public ulong? OneTimeBurst { get; init; }
    [JsonPropertyName("refill_time")] public required ulong RefillTime { get; init; }
}

/// <summary>Firecracker's RateLimiter: a bytes bucket and an operations bucket, each optional.</summary>
public sealed record RateLimiterConfig
{
    [JsonPropertyName("bandwidth")] public TokenBucketConfig? Bandwidth { get; init; }
    [JsonPropertyName("ops")] public TokenBucketConfig? Ops { get; init; }
}

public sealed record VsockDevice
{
    [JsonPropertyName("guest_cid")] public required long GuestCid { get; init; }
    [JsonPropertyName("uds_path")] public required string UdsPath { get; init; }
    /// <summary>Deprecated in Firecracker; accepted and kept.</summary>
    [JsonPropertyName("vsock_id")] public string? VsockId { get; init; }
}

public sealed record MachineConfiguration
{
    [JsonPropertyName("vcpu_count")] public required int VcpuCount { get; init; }
    [JsonPropertyName("mem_size_mib")] public required long MemSizeMib { get; init; }
    [JsonPropertyName("smt")] public bool Smt { get; init; }
    [JsonPropertyName("track_dirty_pages")] public bool TrackDirtyPages { get; init; }
    /// <summary>Null means Firecracker's "None" (source-generated init-only properties absent from the JSON are
    /// set to null, not to an initialiser's value).</summary>
    [JsonPropertyName("huge_pages")] public string? HugePages { get; init; }
    [JsonPropertyName("cpu_template")] public string? CpuTemplate { get; init; }
}

/// <summary>PATCH /machine-config: every field optional.</summary>
public sealed record MachineConfigurationUpdate
{
    [JsonPropertyName("vcpu_count")] public int? VcpuCount { get; init; }
    [JsonPropertyName("mem_size_mib")] public long? MemSizeMib { get; init; }
    [JsonPropertyName("smt")] public bool? Smt { get; init; }
    [JsonPropertyName("track_dirty_pages")] public bool? TrackDirtyPages { get; init; }
    [JsonPropertyName("huge_pages")] public string? HugePages { get; init; }
    [JsonPropertyName("cpu_template")] public string? CpuTemplate { get; init; }
}

public sealed record InstanceActionInfo
{
    [JsonPropertyName("action_type")] public required string ActionType { get; init; }
}

public sealed record VmStateChange
{
    [JsonPropertyName("state")] public required string State { get; init; }
}

public sealed record LoggerConfig
{
    [JsonPropertyName("log_path")] public string? LogPath { get; init; }
    [JsonPropertyName("level")] public string? Level { get; init; }
    [JsonPropertyName("show_level")] public bool? ShowLevel { get; init; }
    [JsonPropertyName("show_log_origin")] public bool? ShowLogOrigin { get; init; }
    [JsonPropertyName("module")] public string? Module { get; init; }
}

public sealed record MetricsConfig
{
    [JsonPropertyName("metrics_path")] public required string MetricsPath { get; init; }
}

public sealed record EntropyDevice
{
    [JsonPropertyName("rate_limiter")] public RateLimiterConfig? RateLimiter { get; init; }
}

public sealed record SerialDevice
{
    [JsonPropertyName("serial_out_path")] public string? SerialOutPath { get; init; }
}

public sealed record InstanceInfo
{
    [JsonPropertyName("app_name")] public required string AppName { get; init; }
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("state")] public required string State { get; init; }
    [JsonPropertyName("vmm_version")] public required string VmmVersion { get; init; }
}

public sealed record VersionInfo
{
    [JsonPropertyName("firecracker_version")] public required string FirecrackerVersion { get; init; }
}

public sealed record Fault
{
    [JsonPropertyName("fault_message")] public required string FaultMessage { get; init; }
}

/// <summary>GET /vm/config, and the --config-file format: every resource configured so far.</summary>
public sealed record FullVmConfiguration
{
    [JsonPropertyName("boot-source")] public BootSource? BootSource { get; init; }
    [JsonPropertyName("drives")] public IReadOnlyList<Drive>? Drives { get; init; }
    [JsonPropertyName("machine-config")] public MachineConfiguration? MachineConfig { get; init; }
    [JsonPropertyName("logger")] public LoggerConfig? Logger { get; init; }
    [JsonPropertyName("metrics")] public MetricsConfig? Metrics { get; init; }
    [JsonPropertyName("entropy")] public EntropyDevice? Entropy { get; init; }
    [JsonPropertyName("serial")] public SerialDevice? Serial { get; init; }
    [JsonPropertyName("network-interfaces")] public IReadOnlyList<NetworkInterface>? NetworkInterfaces { get; init; }
    [JsonPropertyName("vsock")] public VsockDevice? Vsock { get; init; }
}

/// <summary>Source-generated serialisation (no reflection: the NativeAOT build has none). Unknown fields are
/// refused, as Firecracker's serde(deny_unknown_fields) refuses them.</summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    MaxDepth = 16)]
[JsonSerializable(typeof(BootSource))]
[JsonSerializable(typeof(Drive))]
[JsonSerializable(typeof(PartialDrive))]
[JsonSerializable(typeof(NetworkInterface))]
[JsonSerializable(typeof(PartialNetworkInterface))]
[JsonSerializable(typeof(RateLimiterConfig))]
[JsonSerializable(typeof(VsockDevice))]
[JsonSerializable(typeof(MachineConfiguration))]
[JsonSerializable(typeof(MachineConfigurationUpdate))]
[JsonSerializable(typeof(InstanceActionInfo))]
[JsonSerializable(typeof(VmStateChange))]
[JsonSerializable(typeof(LoggerConfig))]
[JsonSerializable(typeof(MetricsConfig))]
[JsonSerializable(typeof(EntropyDevice))]
[JsonSerializable(typeof(SerialDevice))]
[JsonSerializable(typeof(InstanceInfo))]
[JsonSerializable(typeof(VersionInfo))]
[JsonSerializable(typeof(Fault))]
[JsonSerializable(typeof(FullVmConfiguration))]
public sealed partial class ApiJson : JsonSerializerContext;
