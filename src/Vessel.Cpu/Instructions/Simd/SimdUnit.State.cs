using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The SIMD unit: it owns XMM0-XMM15 and MXCSR and executes the SSE to SSE4.2 instructions and MMX.
/// The MMX registers are the x87's physical registers, so MMX goes through the <see cref="X87Unit"/>, which
/// owns them (its tag word, TOP and FSAVE image index them; MMX is a view that resets TOP and the tags).
/// It executes through <see cref="IUnitCpu"/>; its registers (XMM0-XMM15, MXCSR) live in the CPU's state block
/// (<see cref="CpuState.Xmm"/>, <see cref="CpuState.Mxcsr"/>), where translated code reaches them by offset, so it
/// holds the <see cref="X86Cpu"/> itself for them (a field access, no interface call per register).</summary>
internal sealed partial class SimdUnit(X86Cpu cpu, X87Unit x87) : CpuUnit(cpu)
{
    private readonly X87Unit _x87 = x87;
    private readonly X86Cpu _owner = cpu;

    /// <summary>XMM0-XMM15.</summary>
    private ref XmmFile Xmm => ref _owner.State.Xmm;
    private ref uint Mxcsr => ref _owner.State.Mxcsr;

    /// <summary>The state after RESET: registers zero, exceptions masked, round to nearest.</summary>
    public void Reset()
    {
        Xmm = default;
        Mxcsr = 0x1F80;
    }

    public void SaveTo(FpuState s)
    {
        s.Mxcsr = Mxcsr;
        MemoryMarshal.AsBytes((Span<Vector128<byte>>)Xmm).CopyTo(s.Xmm);
    }

    public void LoadFrom(FpuState state)
    {
        Mxcsr = state.Mxcsr & MxcsrWritableMask;
        state.Xmm.AsSpan().CopyTo(MemoryMarshal.AsBytes((Span<Vector128<byte>>)Xmm));
    }

    // ---------------------------------------------------------------- the legacy (FXSAVE) image

    /// <summary>XMM0-7, or XMM0-15 in 64-bit mode, as FXSAVE stores and loads them.</summary>
    private int LegacyXmmCount => IsLongMode64 ? 16 : 8;

    /// <summary>Writes MXCSR (with MXCSR_MASK, bytes 24-31) when <paramref name="mxcsr"/> and the XMM registers
    /// (from byte 160) when <paramref name="sse"/> into the legacy region at <paramref name="lin"/>.</summary>
    public void StoreLegacyImage(ulong lin, bool mxcsr, bool sse)
    {
        if (mxcsr) WriteLinear(lin + 24, 8, Mxcsr | (ulong)MxcsrWritableMask << 32, UserAccess);
        if (!sse) return;
        for (int i = 0; i < LegacyXmmCount; i++) WriteLinear128(lin + 160 + (ulong)i * 16, Xmm[i]);
    }

    /// <summary>The MXCSR of a legacy region; #GP(0) when it sets a reserved bit.</summary>
    public uint ReadCheckedMxcsr(ulong lin)
    {
        uint m = (uint)ReadLinear(lin + 24, 4, UserAccess);
        if ((m & ~MxcsrWritableMask) != 0) Fault(Vector.GP, 0);
        return m;
    }

    /// <summary>Loads the XMM registers of a legacy region; every read comes before any register changes.</summary>
    public void LoadLegacyXmm(ulong lin)
    {
        int count = LegacyXmmCount;
        Span<Vector128<byte>> v = stackalloc Vector128<byte>[16];
        for (int i = 0; i < count; i++) v[i] = ReadLinear128(lin + 160 + (ulong)i * 16);
        for (int i = 0; i < count; i++) Xmm[i] = v[i];
    }

    /// <summary>XRSTOR of an absent SSE component: the registers of the legacy image zeroed.</summary>
    public void ClearLegacyXmm()
    {
        for (int i = 0; i < LegacyXmmCount; i++) Xmm[i] = default;
    }

    /// <summary>MXCSR as a restore loads it (already checked).</summary>
    public void SetMxcsr(uint value) => Mxcsr = value;

    private void ExecuteLdmxcsr(ref Instruction ins)
    {
        CheckSse();
        uint m = (uint)ReadMemoryOperand(ref ins, 4);
        if ((m & ~MxcsrWritableMask) != 0) Fault(Vector.GP, 0);
        Mxcsr = m;
    }

    private void ExecuteStmxcsr(ref Instruction ins)
    {
        CheckSse();
        WriteMemoryOperand(ref ins, 4, Mxcsr);
    }
}
