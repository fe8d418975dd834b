using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>FXSAVE/FXRSTOR (legacy 512-byte image), LDMXCSR/STMXCSR, and the XSAVE family for the x87
/// and SSE components, with XGETBV/XSETBV and XCR0.</summary>
internal sealed partial class X86Cpu
{
    private ulong _xcr0 = 1;

    private void ResetXcr0() => _xcr0 = 1;

    private int FpuTop => (_fsw >> 11) & 7;

    /// <summary>Writes the legacy region (bytes 0-511 layout): x87 part when <paramref name="x87"/>, MXCSR when
    /// <paramref name="mxcsr"/>, XMM registers when <paramref name="sse"/>.</summary>
    private void StoreLegacyRegion(ulong lin, bool wide, bool x87, bool mxcsr, bool sse)
    {
        if (x87)
        {
            WriteLinear(lin, 8, _fcw | (ulong)_fsw << 16 | (ulong)_ftw << 32 | (ulong)_fop << 48, UserAccess);
            WriteLinear(lin + 8, 8, wide ? _fip : (uint)_fip, UserAccess);
            WriteLinear(lin + 16, 8, wide ? _fdp : (uint)_fdp, UserAccess);
            for (int i = 0; i < 8; i++)
            {
                int phys = (FpuTop + i) & 7;
                WriteLinear(lin + 32 + (ulong)i * 16, 8, _fpMant[phys], UserAccess);
                WriteLinear(lin + 40 + (ulong)i * 16, 8, _fpExp[phys], UserAccess);
            }
        }
        if (mxcsr) WriteLinear(lin + 24, 8, _mxcsr | (ulong)MxcsrWritableMask << 32, UserAccess);
        if (sse)
        {
            int count = IsLongMode64 ? 16 : 8;
            for (int i = 0; i < count; i++) WriteLinear128(lin + 160 + (ulong)i * 16, _xmm[i]);
        }
    }

    private uint ReadCheckedMxcsr(ulong lin)
    {
        uint m = (uint)ReadLinear(lin + 24, 4, UserAccess);
        if ((m & ~MxcsrWritableMask) != 0) Fault(Vector.GP, 0);
        return m;
    }

    private void LoadLegacyX87(ulong lin, bool wide)
    {
        ulong head = ReadLinear(lin, 8, UserAccess);
        ulong ip = ReadLinear(lin + 8, 8, UserAccess), dp = ReadLinear(lin + 16, 8, UserAccess);
        Span<ulong> mant = stackalloc ulong[8];
        Span<ushort> exp = stackalloc ushort[8];
        for (int i = 0; i < 8; i++)
        {
            mant[i] = ReadLinear(lin + 32 + (ulong)i * 16, 8, UserAccess);
            exp[i] = (ushort)ReadLinear(lin + 40 + (ulong)i * 16, 2, UserAccess);
        }
        _fcw = (ushort)head; _fsw = (ushort)(head >> 16); _ftw = (byte)(head >> 32); _fop = (ushort)((head >> 48) & 0x7FF);
        _fip = wide ? ip : (uint)ip; _fdp = wide ? dp : (uint)dp;
        for (int i = 0; i < 8; i++)
        {
            int phys = (FpuTop + i) & 7;
            _fpMant[phys] = mant[i]; _fpExp[phys] = exp[i];
        }
    }

    private void LoadLegacyXmm(ulong lin)
    {
        int count = IsLongMode64 ? 16 : 8;
        Span<Vector128<byte>> v = stackalloc Vector128<byte>[16];
        for (int i = 0; i < count; i++) v[i] = ReadLinear128(lin + 160 + (ulong)i * 16);
        for (int i = 0; i < count; i++) _xmm[i] = v[i];
    }

    private void InitX87()
    {
        _fcw = 0x37F; _fsw = 0; _ftw = 0; _fop = 0; _fip = 0; _fdp = 0;
        Array.Clear(_fpMant); Array.Clear(_fpExp);
    }

    private void ExecuteFxsave(ref Instruction ins)
    {
        CheckX87();
        ulong lin = SseLinear(ref ins, 512, AccessKind.Write, 16);
        StoreLegacyRegion(lin, ins.Code == Code.Fxsave64_m512byte, true, true, true);
    }

    private void ExecuteFxrstor(ref Instruction ins)
    {
        CheckX87();
        ulong lin = SseLinear(ref ins, 512, AccessKind.Read, 16);
        uint mxcsr = ReadCheckedMxcsr(lin);
        LoadLegacyXmm(lin);
        LoadLegacyX87(lin, ins.Code == Code.Fxrstor64_m512byte);
        _mxcsr = mxcsr;
    }

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

    // ---------------------------------------------------------------- XSAVE family

    private void CheckXsave()
    {
        if ((Cr4 & ControlRegisters.Cr4Osxsave) == 0) FaultNoCode(Vector.UD);
    }

    private void ExecuteXgetbv()
    {
        CheckXsave();
        if ((uint)Gpr[1] != 0) Fault(Vector.GP, 0);
        Gpr[0] = (uint)_xcr0;
        Gpr[2] = (uint)(_xcr0 >> 32);
    }

    private void ExecuteXsetbv()
    {
        CheckXsave();
        if (Cpl != 0 || (uint)Gpr[1] != 0) Fault(Vector.GP, 0);
        ulong value = (uint)Gpr[0] | (ulong)(uint)Gpr[2] << 32;
        if ((value & 1) == 0 || (value & ~ExtendedFeatures.SupportedXcr0) != 0) Fault(Vector.GP, 0);
        _xcr0 = value;
    }

    /// <summary>XSAVE/XSAVEOPT (standard format) and XSAVEC (compacted). Every supported component counts as
    /// in use (XINUSE = all ones), which the SDM allows; so XSAVEOPT stores what XSAVE stores, and the x87 and
    /// SSE components sit at their legacy offsets in both formats.</summary>
    private void ExecuteXsave(ref Instruction ins)
    {
        CheckXsave();
        if ((Cr0 & ControlRegisters.Cr0Ts) != 0) FaultNoCode(Vector.NM);
        bool compact = ins.Mnemonic is Mnemonic.Xsavec or Mnemonic.Xsavec64;
        bool wide = ins.Code is Code.Xsave64_mem or Code.Xsaveopt64_mem or Code.Xsavec64_mem;
        ulong rfbm = _xcr0 & ((uint)Gpr[0] | (ulong)(uint)Gpr[2] << 32);
        ulong lin = SseLinear(ref ins, XsaveAreaSize, AccessKind.Write, 64);
        ulong header = compact ? 0 : ReadLinear(lin + 512, 8, UserAccess);
        StoreLegacyRegion(lin, wide, (rfbm & 1) != 0, (rfbm & 6) != 0, (rfbm & 2) != 0);
        if (compact)
        {
            WriteLinear(lin + 512, 8, rfbm, UserAccess);
            WriteLinear(lin + 520, 8, rfbm | XcompBvCompacted, UserAccess);
        }
        else
        {
            WriteLinear(lin + 512, 8, header | rfbm, UserAccess);
        }
    }

    private const ulong XcompBvCompacted = 1UL << 63;

    /// <summary>Legacy region and XSAVE header: the whole area for the x87 and SSE components (CPUID.0xD).</summary>
    internal const int XsaveAreaSize = 512 + 64;

    /// <summary>XRSTOR of either format (XCOMP_BV bit 63 selects compacted). Components requested (RFBM) but
    /// absent from XSTATE_BV are put in their initial configuration.</summary>
    private void ExecuteXrstor(ref Instruction ins)
    {
        CheckXsave();
        if ((Cr0 & ControlRegisters.Cr0Ts) != 0) FaultNoCode(Vector.NM);
        bool wide = ins.Code == Code.Xrstor64_mem;
        ulong rfbm = _xcr0 & ((uint)Gpr[0] | (ulong)(uint)Gpr[2] << 32);
        ulong lin = SseLinear(ref ins, XsaveAreaSize, AccessKind.Read, 64);
        ulong xstateBv = ReadLinear(lin + 512, 8, UserAccess);
        ulong xcompBv = ReadLinear(lin + 520, 8, UserAccess);
        bool compact = (xcompBv & XcompBvCompacted) != 0;
        if (compact)
        {
            // Compacted: XCOMP_BV may name only enabled components, XSTATE_BV only compacted ones, and
            // header bytes 16-63 are reserved.
            if ((xcompBv & ~XcompBvCompacted & ~_xcr0) != 0 || (xstateBv & ~xcompBv) != 0) Fault(Vector.GP, 0);
            for (ulong off = 528; off < 576; off += 8)
                if (ReadLinear(lin + off, 8, UserAccess) != 0) Fault(Vector.GP, 0);
        }
        else
        {
            // Standard: XSTATE_BV may name only enabled components; header bytes 8-23 must be zero.
            if ((xstateBv & ~_xcr0) != 0 || xcompBv != 0 || ReadLinear(lin + 528, 8, UserAccess) != 0) Fault(Vector.GP, 0);
        }

        // The standard form loads MXCSR whenever SSE (or AVX) is requested; the compacted form only when the
        // SSE component is present, and otherwise initialises it with the XMM registers.
        bool loadMxcsr = compact ? (rfbm & xstateBv & 2) != 0 : (rfbm & 6) != 0;
        uint mxcsr = loadMxcsr ? ReadCheckedMxcsr(lin) : 0x1F80;
        if ((rfbm & 2) != 0)
        {
            if ((xstateBv & 2) != 0) LoadLegacyXmm(lin);
            else for (int i = 0; i < (IsLongMode64 ? 16 : 8); i++) _xmm[i] = default;
        }
        if ((rfbm & 1) != 0)
        {
            if ((xstateBv & 1) != 0) LoadLegacyX87(lin, wide);
            else InitX87();
        }
        if (loadMxcsr || (compact && (rfbm & 2) != 0)) _mxcsr = mxcsr;
    }
}
