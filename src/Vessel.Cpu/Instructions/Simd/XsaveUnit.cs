using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>FXSAVE/FXRSTOR (legacy 512-byte image) and the XSAVE family for the x87 and SSE components, with
/// XGETBV/XSETBV and XCR0, which it owns. The images hold both units' state: each unit writes and reads its own
/// part of the legacy region (<see cref="X87Unit.StoreLegacyImage"/>, <see cref="SimdUnit.StoreLegacyImage"/>).</summary>
internal sealed class XsaveUnit(IUnitCpu cpu, X87Unit x87, SimdUnit simd) : CpuUnit(cpu)
{
    private readonly X87Unit _x87 = x87;
    private readonly SimdUnit _simd = simd;
    private ulong _xcr0 = 1;

    public void Reset() => _xcr0 = 1;

    /// <summary>FXSAVE, FXRSTOR, XGETBV, XSETBV, XSAVE/XSAVEOPT/XSAVEC and XRSTOR; false for anything else.</summary>
    public bool Execute(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fxsave: case Mnemonic.Fxsave64: ExecuteFxsave(ref ins); return true;
            case Mnemonic.Fxrstor: case Mnemonic.Fxrstor64: ExecuteFxrstor(ref ins); return true;
            case Mnemonic.Xgetbv: ExecuteXgetbv(); return true;
            case Mnemonic.Xsetbv: ExecuteXsetbv(); return true;
            case Mnemonic.Xsave: case Mnemonic.Xsave64: case Mnemonic.Xsaveopt: case Mnemonic.Xsaveopt64:
            case Mnemonic.Xsavec: case Mnemonic.Xsavec64:
                ExecuteXsave(ref ins); return true;
            case Mnemonic.Xrstor: case Mnemonic.Xrstor64: ExecuteXrstor(ref ins); return true;
        }
        return false;
    }

    /// <summary>Writes the legacy region (bytes 0-511 layout): x87 part when <paramref name="x87"/>, MXCSR when
    /// <paramref name="mxcsr"/>, XMM registers when <paramref name="sse"/>.</summary>
    private void StoreLegacyRegion(ulong lin, bool wide, bool x87, bool mxcsr, bool sse)
    {
        if (x87) _x87.StoreLegacyImage(lin, wide);
        _simd.StoreLegacyImage(lin, mxcsr, sse);
    }

    private void ExecuteFxsave(ref Instruction ins)
    {
        _x87.CheckAvailable();
        ulong lin = SseLinear(ref ins, 512, AccessKind.Write, 16);
        StoreLegacyRegion(lin, ins.Code == Code.Fxsave64_m512byte, true, true, true);
    }

    private void ExecuteFxrstor(ref Instruction ins)
    {
        _x87.CheckAvailable();
        ulong lin = SseLinear(ref ins, 512, AccessKind.Read, 16);
        uint mxcsr = _simd.ReadCheckedMxcsr(lin);
        _simd.LoadLegacyXmm(lin);
        _x87.LoadLegacyImage(lin, ins.Code == Code.Fxrstor64_m512byte);
        _simd.SetMxcsr(mxcsr);
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
        uint mxcsr = loadMxcsr ? _simd.ReadCheckedMxcsr(lin) : 0x1F80;
        if ((rfbm & 2) != 0)
        {
            if ((xstateBv & 2) != 0) _simd.LoadLegacyXmm(lin);
            else _simd.ClearLegacyXmm();
        }
        if ((rfbm & 1) != 0)
        {
            if ((xstateBv & 1) != 0) _x87.LoadLegacyImage(lin, wide);
            else _x87.Reset();
        }
        if (loadMxcsr || (compact && (rfbm & 2) != 0)) _simd.SetMxcsr(mxcsr);
    }
}
