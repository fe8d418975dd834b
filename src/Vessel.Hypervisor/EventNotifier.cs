using System.Runtime.InteropServices;

namespace Vessel.Hypervisor;

/// <summary>An eventfd(2): a counter that one side signals and another waits on and takes. KVM signals one from
/// the kernel on a guest doorbell write (<see cref="IVirtualMachine.AddIoEvent"/>) and takes one to raise an
/// interrupt (<see cref="IVirtualMachine.AddIrqEvent"/>); the emu backend does the same in user space. Signals
/// coalesce: a take returns how many arrived since the last one. Safe from any thread.</summary>
public sealed unsafe class EventNotifier : IDisposable
{
    private int _fd;

    public EventNotifier()
    {
        _fd = EventFdNative.EventFd(0, EventFdNative.EfdCloExec | EventFdNative.EfdNonBlock);
        if (_fd < 0) throw new IOException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>The descriptor, for the backend to hand to the kernel; valid until <see cref="Dispose"/>.</summary>
    public int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(EventNotifier));

    public void Signal()
    {
        ulong one = 1;
        while (EventFdNative.Write(Fd, &one, 8) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EAGAIN: the counter is at its maximum, so the waiter has a signal pending anyway.
            if (errno == EventFdNative.EAgain) return;
            if (errno != EventFdNative.EIntr) throw new IOException($"eventfd write failed (errno {errno})");
        }
    }

    /// <summary>Takes the signals that arrived since the last take without waiting; 0 when there were none.</summary>
    public ulong TryTake()
    {
        ulong count;
        while (EventFdNative.Read(Fd, &count, 8) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EventFdNative.EAgain) return 0;
            if (errno != EventFdNative.EIntr) throw new IOException($"eventfd read failed (errno {errno})");
        }
        return count;
    }

    /// <summary>Waits until at least one signal arrives or <paramref name="timeout"/> passes, then takes them;
    /// returns how many (0 on timeout).</summary>
    public ulong Wait(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            ulong taken = TryTake();
            if (taken != 0) return taken;
            long left = deadline - Environment.TickCount64;
            if (left <= 0) return 0;
            var pfd = new EventFdNative.PollFd { Fd = Fd, Events = EventFdNative.PollIn };
            if (EventFdNative.Poll(&pfd, 1, (int)Math.Min(left, int.MaxValue)) < 0 && Marshal.GetLastPInvokeError() != EventFdNative.EIntr)
                throw new IOException($"poll failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) EventFdNative.Close(fd);
    }
}
