using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>x87/SSE register state and its conversion to the backend contract's <see cref="FpuState"/>.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>XMM0-XMM15.</summary>
    private readonly Vector128<byte>[] _xmm = new Vector128<byte>[16];
    private uint _mxcsr = 0x1F80;

    /// <summary>x87 physical registers R0-R7: 64-bit significand and 16-bit sign/exponent.</summary>
    private readonly ulong[] _fpMant = new ulong[8];
    private readonly ushort[] _fpExp = new ushort[8];
    private ushort _fcw = 0x37F, _fsw;
    /// <summary>Abridged tag word: bit i set when physical register i is valid (not empty).</summary>
    private byte _ftw;
    private ushort _fop;
    private ulong _fip, _fdp;

    private void ResetFpu()
    {
        Array.Clear(_xmm);
        Array.Clear(_fpMant);
        Array.Clear(_fpExp);
        _mxcsr = 0x1F80;
        _fcw = 0x37F; _fsw = 0; _ftw = 0; _fop = 0; _fip = 0; _fdp = 0;
        ResetXcr0();
    }

    public FpuState GetFpu()
    {
        var s = new FpuState { Fcw = _fcw, Fsw = _fsw, Ftwx = _ftw, LastOpcode = _fop, LastIp = _fip, LastDp = _fdp, Mxcsr = _mxcsr };
        for (int i = 0; i < 8; i++)
        {
            BitConverter.TryWriteBytes(s.Fpr.AsSpan(i * 16, 8), _fpMant[i]);
            BitConverter.TryWriteBytes(s.Fpr.AsSpan(i * 16 + 8, 2), _fpExp[i]);
        }
        MemoryMarshal.AsBytes(_xmm.AsSpan()).CopyTo(s.Xmm);
        return s;
    }

    public void SetFpu(FpuState state)
    {
        _fcw = state.Fcw; _fsw = state.Fsw; _ftw = state.Ftwx; _fop = state.LastOpcode;
        _fip = state.LastIp; _fdp = state.LastDp; _mxcsr = state.Mxcsr & MxcsrWritableMask;
        for (int i = 0; i < 8; i++)
        {
            _fpMant[i] = BitConverter.ToUInt64(state.Fpr, i * 16);
            _fpExp[i] = BitConverter.ToUInt16(state.Fpr, i * 16 + 8);
        }
        state.Xmm.AsSpan().CopyTo(MemoryMarshal.AsBytes(_xmm.AsSpan()));
    }
}
