using System.Globalization;
using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>One vCPU's exits by reason and the host CPU time its thread used, for metrics. The exit counts are
/// written by the vCPU's own thread only (a plain increment per exit, no allocation) and read from any thread.</summary>
public sealed class VcpuCounters
{
    private static readonly int ReasonCount = Enum.GetValues<VcpuExitReason>().Length;

    private readonly long[] _exits = new long[ReasonCount];
    private volatile int _threadId;

    public VcpuCounters(int vcpuId) => VcpuId = vcpuId;

    public int VcpuId { get; }

    public long Exits(VcpuExitReason reason) => Volatile.Read(ref _exits[(int)reason]);

    internal void CountExit(VcpuExitReason reason)
    {
        ref long count = ref _exits[(int)reason];
        Volatile.Write(ref count, count + 1);
    }

    /// <summary>On the vCPU's thread when it starts: which kernel task to read the CPU time of.</summary>
    internal void RecordThread()
    {
        // /proc/thread-self links to "<pid>/task/<tid>".
        string? target = new FileInfo("/proc/thread-self").LinkTarget;
        if (target is not null && int.TryParse(Path.GetFileName(target), NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
            _threadId = tid;
    }

    /// <summary>User plus system CPU time of the vCPU's thread (guest code and exit handling), in milliseconds, at
    /// the kernel's clock-tick resolution; null before the thread ran or after it ended.</summary>
    public long? CpuTimeMilliseconds()
    {
        int tid = _threadId;
        if (tid == 0) return null;
        try
        {
            string stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
            // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks * 1000 / ClockTicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>USER_HZ: 100 on every Linux x86-64 build.</summary>
    private const long ClockTicksPerSecond = 100;
}
