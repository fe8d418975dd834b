using System.Text;

namespace Vessel.Cpu.Native;

/// <summary>Names translated blocks for <c>perf</c>: with <c>VESSEL_PERF_MAP=1</c>, each block placed in an
/// <see cref="ExecutableArena"/> appends a line "START SIZE name" to <c>/tmp/perf-PID.map</c>, the file perf reads
/// for anonymous code, so <c>perf report</c> and <c>perf annotate</c> show time per translated block (named by
/// the guest RIP it starts at) and per host instruction. When the runtime writes that file itself
/// (<c>DOTNET_PerfMapEnabled</c>), it writes at its own offset over anything appended, so the lines go to
/// <c>/tmp/perf-PID-vessel.map</c> instead, to append to the runtime's after the run (scripts/perf-native.sh does).
/// A chunk reused for another block gets a second line. Off, the check is a static readonly flag the JIT folds
/// away.</summary>
internal static class NativePerfMap
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_PERF_MAP") is { Length: > 0 } v && v != "0";

    private static readonly object Gate = new();
    private static int _fd = -1;

    /// <summary>Appends the line for <paramref name="size"/> bytes of code at <paramref name="start"/>, translated
    /// from the guest block at <paramref name="guestRip"/>.</summary>
    public static void Record(nint start, int size, ulong guestRip)
    {
        byte[] line = Encoding.ASCII.GetBytes($"{start:x} {size:x} vessel-native@{guestRip:x}\n");
        lock (Gate)
        {
            if (_fd < 0)
            {
                _fd = NativeMemoryCalls.Open(MapPath(),
                    NativeMemoryCalls.OpenWriteOnly | NativeMemoryCalls.OpenCreate | NativeMemoryCalls.OpenAppend, 0x1A4);
                if (_fd < 0) return;
            }
            NativeMemoryCalls.Write(_fd, line, (nuint)line.Length);
        }
    }

    private static string MapPath()
    {
        bool runtimeWritesMap = Environment.GetEnvironmentVariable("DOTNET_PerfMapEnabled") is { Length: > 0 } v && v != "0";
        return runtimeWritesMap ? $"/tmp/perf-{Environment.ProcessId}-vessel.map" : $"/tmp/perf-{Environment.ProcessId}.map";
    }
}
