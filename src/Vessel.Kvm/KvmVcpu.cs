using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>A KVM vCPU fd and its mmap'd kvm_run.</summary>
public sealed unsafe partial class KvmVcpu : IVcpu
{
    private readonly int _mmapSize;
    private int _fd;
    private byte* _run;
    /// <summary>Linux thread id of the thread in <see cref="Run"/>, 0 when none; the target of kicks.</summary>
    private volatile int _runningTid;
    /// <summary>Threads in <see cref="Run"/> or <see cref="Kick"/> (which touch kvm_run): <see cref="Dispose"/> unmaps
    /// kvm_run and closes the fd only when none is left.</summary>
    private int _users;
    private int _disposed;

    private KvmVcpu(int id, int fd, byte* run, int mmapSize)
    {
        Id = id;
        _fd = fd;
        _run = run;
        _mmapSize = mmapSize;
    }

    public int Id { get; }

    private int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmVcpu));

    internal static KvmVcpu Create(KvmVirtualMachine vm, int id, int mmapSize, KvmCpuidEntry2[] supportedCpuid)
    {
        VcpuKickSignal.EnsureInstalled();
        int fd = KvmNative.Ioctl(vm.Fd, KvmIoctls.CreateVcpu, id);
        if (fd < 0) throw new KvmException($"KVM_CREATE_VCPU {id} failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
        nint run = KvmNative.Mmap(0, (nuint)mmapSize, KvmNative.ProtRead | KvmNative.ProtWrite, KvmNative.MapShared, fd, 0);
        if (run == KvmNative.MapFailed)
        {
            int errno = Marshal.GetLastPInvokeError();
            KvmNative.Close(fd);
            throw new KvmException($"mmap of kvm_run for vCPU {id} failed: {KvmNative.Describe(errno)}");
        }
        var vcpu = new KvmVcpu(id, fd, (byte*)run, mmapSize);
        try
        {
            vcpu.SetCpuid(supportedCpuid);
            vcpu.RouteLegacyInterruptPins();
            return vcpu;
        }
        catch
        {
            vcpu.Dispose();
            throw;
        }
    }

    /// <summary>Presents the host's KVM-supported CPUID, with this vCPU's APIC id in leaves 1, 0xB and 0x1F.</summary>
    private void SetCpuid(KvmCpuidEntry2[] supported)
    {
        int bytes = sizeof(KvmCpuid2Header) + supported.Length * sizeof(KvmCpuidEntry2);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            ((KvmCpuid2Header*)buffer)->Nent = (uint)supported.Length;
            var entries = new Span<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), supported.Length);
            supported.CopyTo(entries);
            foreach (ref var e in entries)
            {
                if (e.Function == 1) e.Ebx = (e.Ebx & 0x00FF_FFFF) | ((uint)Id << 24);
                else if (e.Function is 0xB or 0x1F) e.Edx = (uint)Id;
            }
            Check(KvmNative.Ioctl(Fd, KvmIoctls.SetCpuid2, buffer), "KVM_SET_CPUID2");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>LINT0 as ExtINT (the 8259 PIC's output) and LINT1 as NMI, as a BIOS leaves them.</summary>
    private void RouteLegacyInterruptPins()
    {
        const int Lint0 = 0x350, Lint1 = 0x360;
        const uint DeliveryModeMask = 0x700, ExtInt = 0x700, Nmi = 0x400;
        var lapic = GetLapic();
        uint lint0 = BitConverter.ToUInt32(lapic, Lint0), lint1 = BitConverter.ToUInt32(lapic, Lint1);
        BitConverter.TryWriteBytes(lapic.AsSpan(Lint0), (lint0 & ~DeliveryModeMask) | ExtInt);
        BitConverter.TryWriteBytes(lapic.AsSpan(Lint1), (lint1 & ~DeliveryModeMask) | Nmi);
        SetLapic(lapic);
    }

    public Registers GetRegisters()
    {
        KvmRegs r;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.GetRegs, &r), "KVM_GET_REGS");
        return KvmConvert.ToRegisters(r);
    }

    public void SetRegisters(in Registers registers)
    {
        KvmRegs r = KvmConvert.FromRegisters(registers);
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SetRegs, &r), "KVM_SET_REGS");
    }

    public SpecialRegisters GetSpecialRegisters()
    {
        KvmSregs s;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.GetSregs, &s), "KVM_GET_SREGS");
        return KvmConvert.ToSpecialRegisters(s);
    }

    public void SetSpecialRegisters(in SpecialRegisters registers)
    {
        // Read first so the pending-interrupt bitmap KVM keeps in kvm_sregs is written back unchanged.
        KvmSregs s;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.GetSregs, &s), "KVM_GET_SREGS");
        KvmConvert.FillSpecialRegisters(ref s, registers);
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SetSregs, &s), "KVM_SET_SREGS");
    }

    public ulong GetMsr(uint index)
    {
        var m = new KvmOneMsr { Header = new KvmMsrsHeader { Nmsrs = 1 }, Entry = new KvmMsrEntry { Index = index } };
        int done = KvmNative.Ioctl(Fd, KvmIoctls.GetMsrs, &m);
        if (done < 0) throw new KvmException($"KVM_GET_MSRS 0x{index:x} failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
        if (done != 1) throw new UnsupportedMsrException(index);
        return m.Entry.Data;
    }

    public void SetMsr(uint index, ulong value)
    {
        var m = new KvmOneMsr { Header = new KvmMsrsHeader { Nmsrs = 1 }, Entry = new KvmMsrEntry { Index = index, Data = value } };
        int done = KvmNative.Ioctl(Fd, KvmIoctls.SetMsrs, &m);
        if (done < 0) throw new KvmException($"KVM_SET_MSRS 0x{index:x} failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
        if (done != 1) throw new UnsupportedMsrException(index);
    }

    public FpuState GetFpu()
    {
        KvmFpu f;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.GetFpu, &f), "KVM_GET_FPU");
        return KvmConvert.ToFpuState(f);
    }

    public void SetFpu(FpuState state)
    {
        KvmFpu f = KvmConvert.FromFpuState(state);
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SetFpu, &f), "KVM_SET_FPU");
    }

    /// <summary>The local APIC's register page (KVM_GET_LAPIC), 1 KiB.</summary>
    public byte[] GetLapic()
    {
        KvmLapicState l;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.GetLapic, &l), "KVM_GET_LAPIC");
        return new ReadOnlySpan<byte>(l.Regs, KvmLapicState.Size).ToArray();
    }

    public void SetLapic(ReadOnlySpan<byte> registers)
    {
        if (registers.Length != KvmLapicState.Size)
            throw new ArgumentException($"a LAPIC page is {KvmLapicState.Size} bytes, not {registers.Length}", nameof(registers));
        KvmLapicState l;
        registers.CopyTo(new Span<byte>(l.Regs, KvmLapicState.Size));
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SetLapic, &l), "KVM_SET_LAPIC");
    }

    public void Kick()
    {
        // Counted before the check: a Dispose that saw no user keeps every later one out.
        Interlocked.Increment(ref _users);
        try
        {
            if (Volatile.Read(ref _disposed) == 0) KickRunningThread();
        }
        finally
        {
            Interlocked.Decrement(ref _users);
        }
    }

    private void KickRunningThread()
    {
        Volatile.Write(ref _run[KvmRunOffsets.ImmediateExit], 1);
        int tid = _runningTid;
        if (tid != 0) KvmNative.TgKill(Environment.ProcessId, tid, VcpuKickSignal.Number);
    }

    private void Check(int result, string what)
    {
        if (result < 0) throw new KvmException($"vCPU {Id}: {what} failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>Refuses every later <see cref="Run"/>, kicks a thread still inside KVM_RUN out of it and waits for it
    /// (bounded) before kvm_run is unmapped and the fd closed: an owner that disposes under a running vCPU thread
    /// must not make that thread read unmapped memory or issue ioctls on a reused fd number. A thread that does not
    /// leave in time keeps the mapping and the fd (leaked rather than a crash).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        long deadline = Environment.TickCount64 + 30_000;
        while (Volatile.Read(ref _users) != 0)
        {
            if (Environment.TickCount64 > deadline) return;
            KickRunningThread();
            Thread.Sleep(1);
        }
        byte* run = _run;
        _run = null;
        if (run != null) KvmNative.Munmap((nint)run, (nuint)_mmapSize);
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) KvmNative.Close(fd);
    }
}
