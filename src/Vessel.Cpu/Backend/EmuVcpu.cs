using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>One emulated vCPU behind the backend contract.</summary>
public sealed class EmuVcpu : IVcpu
{
    private readonly X86Cpu _cpu;
    private readonly IoEventTable _ioEvents;
    private volatile bool _disposed;
    /// <summary>Threads inside <see cref="Run"/>: the machine waits for none before it unmaps translated code.</summary>
    private int _running;

    internal EmuVcpu(X86Cpu cpu, IoEventTable ioEvents)
    {
        _cpu = cpu;
        _ioEvents = ioEvents;
    }

    public int Id => _cpu.VcpuId;

    /// <summary>Guest instructions this vCPU has retired (for benchmarks and statistics).</summary>
    public long InstructionsRetired => _cpu.InstructionsRetired;

    public Registers GetRegisters() => _cpu.GetRegisters();
    public void SetRegisters(in Registers registers) => _cpu.SetRegisters(registers);
    public SpecialRegisters GetSpecialRegisters() => _cpu.GetSpecialRegisters();
    public void SetSpecialRegisters(in SpecialRegisters registers) => _cpu.SetSpecialRegisters(registers);

    public ulong GetMsr(uint index) =>
        _cpu.TryReadMsr(index, out ulong v) ? v : throw new UnsupportedMsrException(index);

    public void SetMsr(uint index, ulong value)
    {
        if (!_cpu.TryWriteMsr(index, value)) throw new UnsupportedMsrException(index);
    }

    public FpuState GetFpu() => _cpu.GetFpu();
    public void SetFpu(FpuState state) => _cpu.SetFpu(state);

    public VcpuExit Run()
    {
        // Counted before the check: a Dispose that saw no thread running also keeps any later one out.
        Interlocked.Increment(ref _running);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _cpu.Prof(ProfileMode.Loop);
            VcpuExit exit;
            // A doorbell write goes on in the guest, as under KVM_IOEVENTFD.
            while (_ioEvents.TrySignal(exit = _cpu.Run()))
                if (EmuProfiler.Enabled) _cpu.Counters.Doorbells++;
            if (EmuProfiler.Enabled) _cpu.Counters.Exits++;
            _cpu.Prof(ProfileMode.Vmm);
            return exit;
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>Some thread is inside <see cref="Run"/>.</summary>
    internal bool IsRunning => Volatile.Read(ref _running) != 0;

    public void CompleteRead(ulong value) => _cpu.CompleteRead(value);

    public void Kick() => _cpu.Kick();

    /// <summary>Nothing native to free (the halt signal is a pinned managed word): after this the vCPU refuses to run,
    /// and a thread still inside <see cref="Run"/> is kicked out of it.</summary>
    public void Dispose()
    {
        _disposed = true;
        Interlocked.MemoryBarrier();
        _cpu.Kick();
    }
}
