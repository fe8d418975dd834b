namespace Vessel.Hypervisor;

/// <summary>x87 and SSE state, as kvm_fpu.</summary>
public sealed class FpuState
{
    /// <summary>ST0-ST7 as 80-bit values in 16-byte slots (physical register order, as FXSAVE).</summary>
    public byte[] Fpr { get; } = new byte[8 * 16];
    public ushort Fcw { get; set; } = 0x37F;
    public ushort Fsw { get; set; }
    /// <summary>Abridged tag word (one bit per register, 1 = valid), as FXSAVE.</summary>
    public byte Ftwx { get; set; }
    public ushort LastOpcode { get; set; }
    public ulong LastIp { get; set; }
    public ulong LastDp { get; set; }
    /// <summary>XMM0-XMM15, 16 bytes each.</summary>
    public byte[] Xmm { get; } = new byte[16 * 16];
    public uint Mxcsr { get; set; } = 0x1F80;
}
