using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vessel.Cpu;

/// <summary>What a halted vCPU sleeps on: set from any thread, waited on by the vCPU's own thread until it is
/// set or a timeout in nanoseconds passes. .NET's timed waits count whole milliseconds (a 0.9 ms timeout
/// returns at once), so a vCPU whose next timer was under a millisecond away spun until it fired — about a
/// millisecond of host CPU per guest timer interrupt. futex(2) sleeps to the nanosecond.</summary>
internal sealed unsafe partial class HaltWakeSignal
{
    private const int Clear = 0, Signaled = 1, Sleeping = 2;
    private const long SysFutex = 202;
    private const int FutexWaitPrivate = 128 | 0, FutexWakePrivate = 128 | 1;

    /// <summary>The futex word, on the pinned heap so its address never moves.</summary>
    private readonly int[] _word = GC.AllocateArray<int>(1, pinned: true);

    private int* Word => (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_word));

    /// <summary>Ends the current or the next wait; a syscall only when the waiter is asleep.</summary>
    public void Set()
    {
        if (Interlocked.Exchange(ref _word[0], Signaled) == Sleeping) Futex(Word, FutexWakePrivate, 1, null);
    }

    /// <summary>Sleeps until <see cref="Set"/> or <paramref name="timeoutNs"/> (negative: no timeout), then
    /// clears the signal. Returns early on a signal delivered to the thread; callers re-check their state.</summary>
    public void Wait(long timeoutNs)
    {
        if (Interlocked.CompareExchange(ref _word[0], Sleeping, Clear) == Clear)
        {
            if (timeoutNs < 0)
            {
                Futex(Word, FutexWaitPrivate, Sleeping, null);
            }
            else
            {
                var timeout = new Timespec { Seconds = timeoutNs / 1_000_000_000, Nanoseconds = timeoutNs % 1_000_000_000 };
                Futex(Word, FutexWaitPrivate, Sleeping, &timeout);
            }
        }
        Interlocked.Exchange(ref _word[0], Clear); // a full fence: the caller's re-check of its state reads after it
    }

    // ETIMEDOUT, EINTR and EAGAIN (set before the sleep began) all just end the wait: the result is not needed.
    private static void Futex(int* word, int op, int value, Timespec* timeout) =>
        syscall(SysFutex, word, op, value, timeout, null, 0);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc")]
    private static partial long syscall(long number, int* word, int op, int value, Timespec* timeout, int* word2, int value3);
}
