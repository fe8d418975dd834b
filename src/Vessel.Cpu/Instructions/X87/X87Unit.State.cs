using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The x87 floating-point unit: it owns the register stack R0-R7 (which MMX aliases, see
/// <see cref="SimdUnit"/>), the control, status and tag words and the last-instruction pointers, and executes
/// the x87 instructions. It reaches the CPU only through <see cref="IUnitCpu"/>.</summary>
internal sealed partial class X87Unit(IUnitCpu cpu) : CpuUnit(cpu)
{
    /// <summary>x87 physical registers R0-R7: 64-bit significand and 16-bit sign/exponent.</summary>
    private readonly ulong[] _fpMant = new ulong[8];
    private readonly ushort[] _fpExp = new ushort[8];
    private ushort _fcw = 0x37F, _fsw;
    /// <summary>Abridged tag word: bit i set when physical register i is valid (not empty).</summary>
    private byte _ftw;
    private ushort _fop;
    private ulong _fip, _fdp;

    private int FpuTop => (_fsw >> 11) & 7;

    /// <summary>The state after RESET and after XRSTOR of an absent x87 component: the registers cleared too.</summary>
    public void Reset()
    {
        ResetX87Control();
        Array.Clear(_fpMant);
        Array.Clear(_fpExp);
    }

    public void SaveTo(FpuState s)
    {
        s.Fcw = _fcw; s.Fsw = _fsw; s.Ftwx = _ftw; s.LastOpcode = _fop; s.LastIp = _fip; s.LastDp = _fdp;
        for (int i = 0; i < 8; i++)
        {
            BitConverter.TryWriteBytes(s.Fpr.AsSpan(i * 16, 8), _fpMant[i]);
            BitConverter.TryWriteBytes(s.Fpr.AsSpan(i * 16 + 8, 2), _fpExp[i]);
        }
    }

    public void LoadFrom(FpuState state)
    {
        _fcw = state.Fcw; _fsw = state.Fsw; _ftw = state.Ftwx; _fop = state.LastOpcode;
        _fip = state.LastIp; _fdp = state.LastDp;
        for (int i = 0; i < 8; i++)
        {
            _fpMant[i] = BitConverter.ToUInt64(state.Fpr, i * 16);
            _fpExp[i] = BitConverter.ToUInt16(state.Fpr, i * 16 + 8);
        }
    }

    // ---------------------------------------------------------------- the legacy (FXSAVE) image

    /// <summary>Writes the x87 part of the FXSAVE/XSAVE legacy region at <paramref name="lin"/> (bytes 0-23 and
    /// the registers at 32-159); <paramref name="wide"/> stores 64-bit pointers (the REX.W forms).</summary>
    public void StoreLegacyImage(ulong lin, bool wide)
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

    /// <summary>Loads the x87 part of a legacy region; every read comes before any register changes.</summary>
    public void LoadLegacyImage(ulong lin, bool wide)
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

    /// <summary>FXSAVE and FXRSTOR are gated like x87 instructions (#NM with CR0.EM or CR0.TS).</summary>
    public void CheckAvailable() => CheckX87();

    // ---------------------------------------------------------------- MMX's view of the registers

    /// <summary>MMn is the significand of physical register Rn (not of ST(n)).</summary>
    public ulong ReadMm(int n) => _fpMant[n];

    /// <summary>An MMX write also sets the register's sign/exponent field to all ones.</summary>
    public void WriteMm(int n, ulong value)
    {
        _fpMant[n] = value;
        _fpExp[n] = 0xFFFF;
    }

    /// <summary>The x87-to-MMX transition every MMX instruction makes: TOP = 0 and every tag valid.</summary>
    public void EnterMmx()
    {
        _fsw &= unchecked((ushort)~0x3800);
        _ftw = 0xFF;
    }

    /// <summary>EMMS: every register empty.</summary>
    public void EmptyMmx() => _ftw = 0;

    /// <summary>An unmasked x87 exception waits for the next waiting instruction (ES set).</summary>
    public bool ExceptionPending => (_fsw & ErrorSummary) != 0;
}
