using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Vessel.Vmm;

namespace Vessel.Cli.Api;

/// <summary>PUT /metrics: one JSON object per line, written every 60 s, on FlushMetrics and at exit, as Firecracker
/// writes them. Counters: API requests by route and status, the VM's state and run time, and the machine's own
/// (<see cref="MachineMetrics"/>: exits and CPU time per vCPU, bytes and requests per disk, frames and bytes per network interface). Thread-safe.</summary>
public sealed class ApiMetrics : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, long> _requests = new(StringComparer.Ordinal);
    private readonly Lock _writeLock = new();
    private readonly long _startTicks = Stopwatch.GetTimestamp();
    private Stream? _output;
    private Timer? _timer;

    public bool Configured => Volatile.Read(ref _output) is not null;

    /// <summary>The running machine, when there is one, for its state and vCPU count.</summary>
    public Func<Machine?>? MachineSource { get; set; }

    /// <summary>The network interfaces' ids, in the order their devices were made (for "net_IFACEID").</summary>
    public Func<IReadOnlyList<string>>? NetworkInterfaceIds { get; set; }

    public void Count(string method, string route, int status) =>
        _requests.AddOrUpdate($"{method} {route} {status}", 1, static (_, n) => n + 1);

    public void Open(string path)
    {
        _output = ApiLog.OpenAppend("metrics_path", path);
        _timer = new Timer(_ => Flush(), null, Period, Period);
    }

    /// <summary>Writes one line; false if no metrics file is configured.</summary>
    public bool Flush()
    {
        var output = Volatile.Read(ref _output);
        if (output is null) return false;
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("utc_timestamp_ms", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            json.WriteNumber("uptime_ms", (long)Stopwatch.GetElapsedTime(_startTicks).TotalMilliseconds);
            json.WriteStartObject("api_server");
            foreach (var (key, count) in _requests.OrderBy(p => p.Key, StringComparer.Ordinal))
                json.WriteNumber(key, count);
            json.WriteEndObject();
            var machine = MachineSource?.Invoke();
            json.WriteStartObject("vm");
            json.WriteString("state", machine?.State.ToString() ?? "NotStarted");
            json.WriteNumber("vcpus", machine?.VcpuCount ?? 0);
            json.WriteEndObject();
            if (machine is not null) MachineMetrics.Write(json, machine, NetworkInterfaceIds?.Invoke() ?? []);
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        lock (_writeLock)
        {
            try
            {
                output.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
                output.Flush();
            }
            catch (IOException)
            {
                return true; // a reader that went away loses its metrics, not the VM
            }
        }
        return true;
    }

    public void Dispose()
    {
        _timer?.Dispose();
        Flush();
        lock (_writeLock) _output?.Dispose();
    }
}
