using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Vessel.Cpu.Native;

/// <summary>The host functions translated code calls itself (no managed code, no GC transition): libc's
/// clock_gettime, for RDTSC. Stopwatch reads CLOCK_MONOTONIC in nanoseconds on Linux, which guest time follows
/// (<see cref="Platform.GuestClock"/>), so translated RDTSC reads the very clock the interpreter's does.</summary>
internal static class NativeSystemCalls
{
    public const int ClockMonotonic = 1;

    /// <summary>clock_gettime's address; zero where it cannot stand for Stopwatch (not found, or Stopwatch does not
    /// count nanoseconds): RDTSC is then left to the interpreter.</summary>
    public static readonly nint ClockGettime = FindClockGettime();

    private static nint FindClockGettime()
    {
        if (Stopwatch.Frequency != 1_000_000_000 || !OperatingSystem.IsLinux()) return 0;
        if (!NativeLibrary.TryLoad("libc.so.6", out nint libc)) return 0;
        return NativeLibrary.TryGetExport(libc, "clock_gettime", out nint address) ? address : 0;
    }
}
