namespace Vessel.Hypervisor;

public enum VcpuExitReason
{
    /// <summary>IN/INS: read <see cref="VcpuExit.Size"/> bytes from <see cref="VcpuExit.Port"/>.</summary>
    IoIn,
    /// <summary>OUT/OUTS: write <see cref="VcpuExit.Data"/> to <see cref="VcpuExit.Port"/>.</summary>
    IoOut,
    /// <summary>A read of guest-physical <see cref="VcpuExit.Address"/> that no memory slot backs.</summary>
    MmioRead,
    /// <summary>A write of <see cref="VcpuExit.Data"/> to guest-physical <see cref="VcpuExit.Address"/>.</summary>
    MmioWrite,
    /// <summary>HLT that nothing can end: interrupts disabled (the in-kernel irqchip case blocks inside Run instead).</summary>
    Halt,
    /// <summary>Triple fault (KVM_EXIT_SHUTDOWN).</summary>
    Shutdown,
    /// <summary>The backend cannot go on; <see cref="VcpuExit.Message"/> says why.</summary>
    InternalError,
    /// <summary><see cref="IVcpu.Kick"/> was called.</summary>
    Interrupted,
}

/// <summary>Why <see cref="IVcpu.Run"/> returned. Size is 1, 2, 4 or 8 bytes.</summary>
public readonly record struct VcpuExit(
    VcpuExitReason Reason,
    ulong Address = 0,
    int Size = 0,
    ulong Data = 0,
    string? Message = null)
{
    public ushort Port => (ushort)Address;

    public static VcpuExit IoIn(ushort port, int size) => new(VcpuExitReason.IoIn, port, size);
    public static VcpuExit IoOut(ushort port, int size, ulong data) => new(VcpuExitReason.IoOut, port, size, data);
    public static VcpuExit MmioRead(ulong address, int size) => new(VcpuExitReason.MmioRead, address, size);
    public static VcpuExit MmioWrite(ulong address, int size, ulong data) => new(VcpuExitReason.MmioWrite, address, size, data);
    public static VcpuExit Halt() => new(VcpuExitReason.Halt);
    public static VcpuExit Shutdown(string why) => new(VcpuExitReason.Shutdown, Message: why);
    public static VcpuExit InternalError(string why) => new(VcpuExitReason.InternalError, Message: why);
    public static VcpuExit Interrupted() => new(VcpuExitReason.Interrupted);

    public override string ToString() => Reason switch
    {
        VcpuExitReason.IoIn => $"in port 0x{Port:x} size {Size}",
        VcpuExitReason.IoOut => $"out port 0x{Port:x} size {Size} data 0x{Data:x}",
        VcpuExitReason.MmioRead => $"mmio read 0x{Address:x} size {Size}",
        VcpuExitReason.MmioWrite => $"mmio write 0x{Address:x} size {Size} data 0x{Data:x}",
        _ => Message is null ? Reason.ToString() : $"{Reason}: {Message}",
    };
}
