namespace Vessel.Hypervisor;

/// <summary>A virtual CPU (as a KVM vCPU fd). All members but <see cref="Kick"/> are called
/// from the vCPU's own thread, and <see cref="Run"/> always from that one thread (the kvm backend's kicks
/// signal it).</summary>
public interface IVcpu : IDisposable
{
    int Id { get; }

    Registers GetRegisters();
    void SetRegisters(in Registers registers);

    SpecialRegisters GetSpecialRegisters();
    void SetSpecialRegisters(in SpecialRegisters registers);

    /// <summary>Reads an MSR; throws <see cref="UnsupportedMsrException"/> for one the CPU does not have.</summary>
    ulong GetMsr(uint index);

    /// <summary>Writes an MSR; throws <see cref="UnsupportedMsrException"/> for one the CPU does not have
    /// or a value it would refuse.</summary>
    void SetMsr(uint index, ulong value);

    FpuState GetFpu();
    void SetFpu(FpuState state);

    /// <summary>Runs guest code until something needs the VMM. For <see cref="VcpuExitReason.IoIn"/> and
    /// <see cref="VcpuExitReason.MmioRead"/> the VMM calls <see cref="CompleteRead"/> before the next
    /// <see cref="Run"/>, which then finishes the instruction (as KVM does with kvm_run's data area).</summary>
    VcpuExit Run();

    /// <summary>Supplies the value of the read the last exit asked for (zero-extended to 64 bits).</summary>
    void CompleteRead(ulong value);

    /// <summary>Makes a concurrent or the next <see cref="Run"/> return <see cref="VcpuExitReason.Interrupted"/>
    /// as soon as possible. Safe from any thread.</summary>
    void Kick();
}

public sealed class UnsupportedMsrException(uint index)
    : Exception($"MSR 0x{index:x} is not supported")
{
    public uint Index { get; } = index;
}
