using System.Text;

namespace Vessel.Cpu.Native;

/// <summary>Names translated blocks for <c>perf</c>: with <c>VESSEL_PERF_MAP=1</c>, each block placed in an
/// <see cref="ExecutableArena"/> appends a line "START SIZE name" to <c>/tmp/perf-PID.map</c>, the file perf reads
/// for anonymous code, so <c>perf report</c> and <c>perf annotate</c> show time per translated block (named by
/// the guest RIP it starts at) and per host instruction. When the runtime writes that file itself
/// (<c>DOTNET_PerfMapEnabled</c>), it writes at its own offset over anything appended, so the lines go to
/// <c>/tmp/perf-PID-vessel.map</c> instead, to append to the runtime's after the run (scripts/perf-native.sh does).
/// A chunk reused for another block gets a second line. perf cannot annotate code it has no bytes of, so the bytes
/// go to <c>/tmp/perf-PID-vessel.code</c> too (per block: start and size as two little-endian 64-bit words, then
/// the bytes), which scripts/perf-native-annotate.py reads. Off, the check is a static readonly flag the JIT
/// folds away.</summary>
internal static class NativePerfMap
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_PERF_MAP") is { Length: > 0 } v && v != "0";

    private static readonly object Gate = new();
    private static int _fd = -1, _codeFd = -1;

    /// <summary>Appends the line for <paramref name="size"/> bytes of code at <paramref name="start"/>, translated
    /// from the guest block at <paramref name="guestRip"/>.</summary>
    public static void Record(nint start, ReadOnlySpan<byte> code, ulong guestRip)
    {
        byte[] line = Encoding.ASCII.GetBytes($"{start:x} {code.Length:x} vessel-native@{guestRip:x}\n");
        byte[] record = new byte[16 + code.Length];
        BitConverter.TryWriteBytes(record.AsSpan(0, 8), (long)start);
        BitConverter.TryWriteBytes(record.AsSpan(8, 8), (long)code.Length);
        code.CopyTo(record.AsSpan(16));
        lock (Gate)
        {
            if (_fd < 0)
            {
                string map = MapPath();
                _fd = OpenForAppend(map);
                _codeFd = OpenForAppend($"/tmp/perf-{Environment.ProcessId}-vessel.code");
                if (_fd < 0 || _codeFd < 0) return;
            }
            NativeMemoryCalls.Write(_fd, line, (nuint)line.Length);
            NativeMemoryCalls.Write(_codeFd, record, (nuint)record.Length);
        }
    }

    private static int OpenForAppend(string path) => NativeMemoryCalls.Open(path,
        NativeMemoryCalls.OpenWriteOnly | NativeMemoryCalls.OpenCreate | NativeMemoryCalls.OpenAppend, 0x1A4);

    private static string MapPath()
    {
        bool runtimeWritesMap = Environment.GetEnvironmentVariable("DOTNET_PerfMapEnabled") is { Length: > 0 } v && v != "0";
        return runtimeWritesMap ? $"/tmp/perf-{Environment.ProcessId}-vessel.map" : $"/tmp/perf-{Environment.ProcessId}.map";
    }
}
