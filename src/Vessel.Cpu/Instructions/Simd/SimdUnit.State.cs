using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The SIMD unit: it owns XMM0-XMM15 and MXCSR and executes the SSE to SSE4.2 instructions and MMX.
/// The MMX registers are the x87's physical registers, so MMX goes through the <see cref="X87Unit"/>, which
/// owns them (its tag word, TOP and FSAVE image index them; MMX is a view that resets TOP and the tags).
/// It reaches the CPU only through <see cref="IUnitCpu"/>.</summary>
internal sealed partial class SimdUnit(IUnitCpu cpu, X87Unit x87) : CpuUnit(cpu)
{
    private readonly X87Unit _x87 = x87;

    /// <summary>XMM0-XMM15.</summary>
    private readonly Vector128<byte>[] _xmm = new Vector128<byte>[16];
    private uint _mxcsr = 0x1F80;

    /// <summary>The state after RESET: registers zero, exceptions masked, round to nearest.</summary>
    public void Reset()
    {
        Array.Clear(_xmm);
        _mxcsr = 0x1F80;
    }

    public void SaveTo(FpuState s)
    {
        s.Mxcsr = _mxcsr;
        MemoryMarshal.AsBytes(_xmm.AsSpan()).CopyTo(s.Xmm);
    }

    public void LoadFrom(FpuState state)
    {
        _mxcsr = state.Mxcsr & MxcsrWritableMask;
        state.Xmm.AsSpan().CopyTo(MemoryMarshal.AsBytes(_xmm.AsSpan()));
    }

    // ---------------------------------------------------------------- the legacy (FXSAVE) image

    /// <summary>XMM0-7, or XMM0-15 in 64-bit mode, as FXSAVE stores and loads them.</summary>
    private int LegacyXmmCount => IsLongMode64 ? 16 : 8;

    /// <summary>Writes MXCSR (with MXCSR_MASK, bytes 24-31) when <paramref name="mxcsr"/> and the XMM registers
    /// (from byte 160) when <paramref name="sse"/> into the legacy region at <paramref name="lin"/>.</summary>
    public void StoreLegacyImage(ulong lin, bool mxcsr, bool sse)
    {
        if (mxcsr) WriteLinear(lin + 24, 8, _mxcsr | (ulong)MxcsrWritableMask << 32, UserAccess);
        if (!sse) return;
        for (int i = 0; i < LegacyXmmCount; i++) WriteLinear128(lin + 160 + (ulong)i * 16, _xmm[i]);
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
        for (int i = 0; i < count; i++) _xmm[i] = v[i];
    }

    /// <summary>XRSTOR of an absent SSE component: the registers of the legacy image zeroed.</summary>
    public void ClearLegacyXmm()
    {
        for (int i = 0; i < LegacyXmmCount; i++) _xmm[i] = default;
    }

    /// <summary>MXCSR as a restore loads it (already checked).</summary>
    public void SetMxcsr(uint value) => _mxcsr = value;

    private void ExecuteLdmxcsr(ref Instruction ins)
    {
        CheckSse();
        uint m = (uint)ReadMemoryOperand(ref ins, 4);
        if ((m & ~MxcsrWritableMask) != 0) Fault(Vector.GP, 0);
        _mxcsr = m;
    }

    private void ExecuteStmxcsr(ref Instruction ins)
    {
        CheckSse();
        WriteMemoryOperand(ref ins, 4, _mxcsr);
    }
}
