using System.Text.Json;
using Vessel.Hypervisor;
using Vessel.Virtio.Block;
using Vessel.Virtio.Net;
using Vessel.Vmm;

namespace Vessel.Cli.Api;

/// <summary>The running machine's counters in a metrics line, in Firecracker's layout: a "vcpu" object summed over
/// the vCPUs and "vcpu_N" for each (exits by reason, thread CPU time), a "block" object summed over the disks and
/// "block_ID" for each drive (bytes and requests), a "net" object and "net_IFACEID" for each network interface
/// (<see cref="NetMetrics"/>).</summary>
internal static class MachineMetrics
{
    /// <summary>Firecracker's names, in <see cref="VcpuExitReason"/> order.</summary>
    private static readonly string[] ExitNames =
        ["exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write", "exit_halt", "exit_shutdown", "exit_internal_error", "exit_interrupted"];

    /// <param name="ifaceIds">The network interfaces' ids in the order the machine's virtio-net devices were made;
    /// a device beyond them is named by its index.</param>
    public static void Write(Utf8JsonWriter json, Machine machine, IReadOnlyList<string> ifaceIds)
    {
        var vcpus = machine.VcpuCounters;
        var reasons = Enum.GetValues<VcpuExitReason>();
        json.WriteStartObject("vcpu");
        foreach (var reason in reasons) json.WriteNumber(ExitNames[(int)reason], vcpus.Sum(v => v.Exits(reason)));
        json.WriteNumber("cpu_time_ms", vcpus.Sum(v => v.CpuTimeMilliseconds() ?? 0));
        json.WriteEndObject();
        foreach (var vcpu in vcpus)
        {
            json.WriteStartObject($"vcpu_{vcpu.VcpuId}");
            foreach (var reason in reasons) json.WriteNumber(ExitNames[(int)reason], vcpu.Exits(reason));
            if (vcpu.CpuTimeMilliseconds() is { } ms) json.WriteNumber("cpu_time_ms", ms);
            json.WriteEndObject();
        }
        WriteDisks(json, machine);
        var nets = machine.VirtioDevices.OfType<VirtioNet>().ToList();
        NetMetrics.Write(json, [.. nets.Select((n, i) => (i < ifaceIds.Count ? ifaceIds[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture), n.Statistics))],
            [.. nets.Select(n => (n.ReceiveRateLimit.ThrottledEvents, n.TransmitRateLimit.ThrottledEvents))]);
    }

    private static void WriteDisks(Utf8JsonWriter json, Machine machine)
    {
        var disks = machine.VirtioDevices.OfType<VirtioBlock>().ToList();
        if (disks.Count == 0) return;
        WriteBlock(json, "block", disks);
        for (int i = 0; i < disks.Count; i++)
            WriteBlock(json, $"block_{(disks[i].Id.Length > 0 ? disks[i].Id : i.ToString(System.Globalization.CultureInfo.InvariantCulture))}", [disks[i]]);
    }

    private static void WriteBlock(Utf8JsonWriter json, string name, List<VirtioBlock> disks)
    {
        var counters = disks.Select(d => d.Counters).ToList();
        json.WriteStartObject(name);
        json.WriteNumber("read_bytes", counters.Sum(c => c.ReadBytes));
        json.WriteNumber("write_bytes", counters.Sum(c => c.WriteBytes));
        json.WriteNumber("read_count", counters.Sum(c => c.ReadCount));
        json.WriteNumber("write_count", counters.Sum(c => c.WriteCount));
        json.WriteNumber("flush_count", counters.Sum(c => c.FlushCount));
        json.WriteNumber("other_count", counters.Sum(c => c.OtherCount));
        json.WriteNumber("failed_count", counters.Sum(c => c.FailedCount));
        json.WriteNumber("rate_limiter_throttled_events", disks.Sum(d => d.RateLimit.ThrottledEvents));
        json.WriteEndObject();
    }
}
