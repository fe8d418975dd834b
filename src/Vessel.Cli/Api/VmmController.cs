using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Vessel.Cli.Options;
using Vessel.Vmm;

namespace Vessel.Cli.Api;

/// <summary>One API response: a status and, for 200 and 400, a JSON body.</summary>
public readonly record struct ApiResponse(int Status, string? Json)
{
    public static readonly ApiResponse NoContent = new(204, null);

    public static ApiResponse Fault(string message) =>
        new(400, JsonSerializer.Serialize(new Fault { FaultMessage = message }, ApiJson.Default.Fault));

    public static ApiResponse Ok<T>(T value, JsonTypeInfo<T> type) => new(200, JsonSerializer.Serialize(value, type));
}

/// <summary>Firecracker's API over Vessel: routes a request (method, path, body) to the configuration or the running
/// machine. Knows nothing of HTTP. Requests are serialised: one changes the VM at a time, and a refused one
/// changes nothing (the configuration is an immutable <see cref="VmResources"/> replaced only on success).</summary>
public sealed class VmmController(Func<VmResources, Machine> startMachine, ApiMetrics metrics, string instanceId = "anonymous-instance")
{
    public const string NotSupportedAfterStart = "The requested operation is not supported after starting the microVM.";
    public const string NotSupportedBeforeStart = "The requested operation is not supported before starting the microVM.";
    public static readonly string Version = typeof(VmmController).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static readonly HashSet<string> KnownMethods = ["GET", "PUT", "PATCH"];
    private static readonly HashSet<string> KnownRoutes = ["/", "/version", "/vm/config", "/machine-config", "/boot-source",
        "/drives/{id}", "/serial", "/entropy", "/logger", "/metrics", "/actions", "/vm", "/network-interfaces/{id}", "/vsock"];

    private readonly Lock _lock = new();
    private VmResources _resources = new();
    private Machine? _machine;
    private ApiLog? _log;

    public VmResources Resources => Volatile.Read(ref _resources);
    public Machine? Machine => Volatile.Read(ref _machine);

    public ApiResponse Handle(string method, string path, ReadOnlySpan<byte> body)
    {
        string route = RouteOf(path, out string? id);
        ApiResponse response;
        try
        {
            lock (_lock) response = Dispatch(method, route, id, body);
        }
        catch (CliException ex)
        {
            response = ApiResponse.Fault(ex.Message);
        }
        catch (JsonException ex)
        {
            response = ApiResponse.Fault(JsonErrorText.SyntaxError(ex));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            // A fault of the host, not of the request: Firecracker's 500, and the configuration unchanged.
            response = ApiResponse.Fault(ex.Message) with { Status = 500 };
        }
        // Only known routes and methods are counted by name: a client must not grow the table with made-up paths.
        metrics.Count(KnownMethods.Contains(method) ? method : "OTHER", KnownRoutes.Contains(route) ? route : "unknown", response.Status);
        _log?.Write(response.Status < 400 ? ApiLog.Level.Info : ApiLog.Level.Warning, "api",
            $"The API server received a {method} request on \"{path}\": {response.Status}");
        return response;
    }

    /// <summary>The configuration of a --config-file, applied as one request would be.</summary>
    public void Configure(VmResources resources)
    {
        lock (_lock)
        {
            if (resources.Logger is { } logger) _log = ApiLog.Open(logger, instanceId);
            if (resources.Metrics is { } m) metrics.Open(m.MetricsPath);
            _resources = resources;
        }
    }

    public ApiResponse StartInstance()
    {
        lock (_lock) return Start();
    }

    private ApiResponse Dispatch(string method, string route, string? id, ReadOnlySpan<byte> body)
    {
        bool started = _machine is not null;
        switch (method, route)
        {
            case ("GET", "/"):
                return ApiResponse.Ok(new InstanceInfo { AppName = "Vessel", Id = instanceId, State = StateName(), VmmVersion = Version }, ApiJson.Default.InstanceInfo);
            case ("GET", "/version"):
                return ApiResponse.Ok(new VersionInfo { FirecrackerVersion = Version }, ApiJson.Default.VersionInfo);
            case ("GET", "/vm/config"):
                return ApiResponse.Ok(_resources.ToFull(), ApiJson.Default.FullVmConfiguration);
            case ("GET", "/machine-config"):
                return ApiResponse.Ok(_resources.Machine, ApiJson.Default.MachineConfiguration);
            case ("PUT", "/boot-source"):
                return Configure(started, Parse(body, ApiJson.Default.BootSource), static (r, b) => r.WithBootSource(b));
            case ("PUT", "/drives/{id}"):
                return Configure(started, Parse(body, ApiJson.Default.Drive), (r, d) => r.WithDrive(id!, d));
            case ("PATCH", "/drives/{id}"):
                // Firecracker refuses a drive or interface PATCH before InstanceStart (its pre-boot controller
                // answers UpdateBlockDevice/UpdateNetworkInterface so), after parsing the body.
                var update = Parse(body, ApiJson.Default.PartialDrive);
                if (!started) return ApiResponse.Fault(NotSupportedBeforeStart);
                var updated = _resources.WithDriveUpdate(id!, update);
                UpdateRunningDrive(id!, update);
                _resources = updated;
                return ApiResponse.NoContent;
            case ("PUT", "/machine-config"):
                return Configure(started, Parse(body, ApiJson.Default.MachineConfiguration), static (r, m) => r.WithMachine(m));
            case ("PATCH", "/machine-config"):
                return Configure(started, Parse(body, ApiJson.Default.MachineConfigurationUpdate), static (r, m) => r.WithMachineUpdate(m));
            case ("PUT", "/serial"):
                return Configure(started, Parse(body, ApiJson.Default.SerialDevice), static (r, s) => r.WithSerial(s));
            case ("PUT", "/entropy"):
                return Configure(started, Parse(body, ApiJson.Default.EntropyDevice), static (r, e) => r.WithEntropy(e));
            case ("PUT", "/logger"):
                var logger = Parse(body, ApiJson.Default.LoggerConfig);
                if (started) return ApiResponse.Fault(NotSupportedAfterStart);
                var withLogger = _resources.WithLogger(logger);
                if (_resources.Logger is not null) return ApiResponse.Fault("logger: the logger is already configured");
                _log = ApiLog.Open(logger, instanceId);
                _resources = withLogger;
                return ApiResponse.NoContent;
            case ("PUT", "/metrics"):
                var metricsConfig = Parse(body, ApiJson.Default.MetricsConfig);
                if (started) return ApiResponse.Fault(NotSupportedAfterStart);
                var withMetrics = _resources.WithMetrics(metricsConfig);
                if (metrics.Configured) return ApiResponse.Fault("metrics: the metrics system is already configured");
                metrics.Open(metricsConfig.MetricsPath);
                _resources = withMetrics;
                return ApiResponse.NoContent;
            case ("PUT", "/actions"):
                return Action(Parse(body, ApiJson.Default.InstanceActionInfo).ActionType);
            case ("PATCH", "/vm"):
                return ChangeState(Parse(body, ApiJson.Default.VmStateChange).State);
            case ("PUT", "/network-interfaces/{id}"):
                return Configure(started, Parse(body, ApiJson.Default.NetworkInterface), (r, i) => r.WithNetworkInterface(id!, i));
            case ("PATCH", "/network-interfaces/{id}"):
                // Firecracker's PATCH changes the rate limiters of a running VM's interface.
                var ifaceUpdate = Parse(body, ApiJson.Default.PartialNetworkInterface);
                if (!started) return ApiResponse.Fault(NotSupportedBeforeStart);
                var withIface = _resources.WithNetworkInterfaceUpdate(id!, ifaceUpdate);
                UpdateRunningInterface(id!, ifaceUpdate);
                _resources = withIface;
                return ApiResponse.NoContent;
            case ("PUT", "/vsock"):
                return Configure(started, Parse(body, ApiJson.Default.VsockDevice), static (r, v) => r.WithVsock(v));
            default:
                return ApiResponse.Fault($"Invalid request method and/or path: {method} {(id is null ? route : route.Replace("{id}", id))}.");
        }
    }

    /// <summary>A running drive's PATCH: the virtio-blk device of that drive (its place in the boot order)
    /// switches images and raises a configuration interrupt, and takes the new rate limiter buckets.</summary>
    private void UpdateRunningDrive(string driveId, PartialDrive update)
    {
        int index = _resources.DriveBootOrder().FindIndex(d => d.DriveId == driveId);
        try
        {
            if (update.PathOnHost is { } path) _machine!.SwapDiskImage(index, path);
            if (RateLimitOption.ToUpdate(update.RateLimiter) is { } limit) _machine!.UpdateDiskRateLimit(index, limit);
        }
        catch (Vessel.Virtio.Block.DiskImageException ex)
        {
            throw VmResources.Fault($"path_on_host: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw VmResources.Fault($"drive_id '{driveId}': {ex.Message}");
        }
    }

    private void UpdateRunningInterface(string ifaceId, PartialNetworkInterface update)
    {
        int index = _resources.NetworkInterfaces.ToList().FindIndex(i => i.IfaceId == ifaceId);
        try
        {
            _machine!.UpdateNetworkRateLimits(index, RateLimitOption.ToUpdate(update.RxRateLimiter), RateLimitOption.ToUpdate(update.TxRateLimiter));
        }
        catch (InvalidOperationException ex)
        {
            throw VmResources.Fault($"iface_id '{ifaceId}': {ex.Message}");
        }
    }

    private ApiResponse Configure<T>(bool started, T body, Func<VmResources, T, VmResources> apply)
    {
        if (started) return ApiResponse.Fault(NotSupportedAfterStart);
        _resources = apply(_resources, body);
        return ApiResponse.NoContent;
    }

    private ApiResponse Action(string action)
    {
        switch (action)
        {
            case "InstanceStart":
                return Start();
            case "FlushMetrics":
                return metrics.Flush() ? ApiResponse.NoContent : ApiResponse.Fault("FlushMetrics: the metrics system is not configured (PUT /metrics first)");
            case "SendCtrlAltDel":
                if (_machine is null) return ApiResponse.Fault(NotSupportedBeforeStart);
                return _machine.SendCtrlAltDel() ? ApiResponse.NoContent
                    : ApiResponse.Fault("action_type SendCtrlAltDel: the guest's i8042 keyboard takes no keys now (disabled, its buffer full, or the VM has ended)");
            default:
                return ApiResponse.Fault($"action_type '{action}' is not one of InstanceStart, SendCtrlAltDel, FlushMetrics");
        }
    }

    private ApiResponse Start()
    {
        if (_machine is not null) return ApiResponse.Fault(NotSupportedAfterStart);
        var machine = startMachine(_resources);
        Volatile.Write(ref _machine, machine);
        _log?.Write(ApiLog.Level.Info, "vmm", "Successfully started microvm");
        return ApiResponse.NoContent;
    }

    private ApiResponse ChangeState(string state)
    {
        if (state is not ("Paused" or "Resumed"))
            return ApiResponse.Fault($"state '{state}' is not one of Paused, Resumed");
        var machine = _machine;
        if (machine is null) return ApiResponse.Fault(NotSupportedBeforeStart);
        try
        {
            if (state == "Paused") machine.Pause();
            else machine.Resume();
        }
        catch (InvalidOperationException)
        {
            return ApiResponse.Fault($"state {state}: the VM has ended ({machine.Exit?.ToString() ?? "stopping"})");
        }
        return ApiResponse.NoContent;
    }

    private string StateName() => _machine?.State switch
    {
        null => "Not started",
        MachineState.Paused => "Paused",
        _ => "Running",
    };

    private static T Parse<T>(ReadOnlySpan<byte> body, JsonTypeInfo<T> type)
    {
        if (body.IsEmpty) throw VmResources.Fault("the request has no body (a JSON object is expected)");
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw VmResources.Fault("the body is null (a JSON object is expected)");
        }
        catch (JsonException ex)
        {
            throw VmResources.Fault(JsonErrorText.Describe(ex, body, type));
        }
    }

    private static string RouteOf(string path, out string? id)
    {
        id = null;
        foreach (string prefix in (ReadOnlySpan<string>)["/drives/", "/network-interfaces/"])
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal) && path.Length > prefix.Length && path.IndexOf('/', prefix.Length) < 0)
            {
                id = path[prefix.Length..];
                return prefix + "{id}";
            }
        }
        return path.Length > 1 ? path.TrimEnd('/') : path;
    }
}
