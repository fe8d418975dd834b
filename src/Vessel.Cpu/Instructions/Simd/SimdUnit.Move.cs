using System.Runtime.Intrinsics;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>SSE data movement: full, partial and scalar moves, MOVD/MOVQ, duplicates.</summary>
internal sealed partial class SimdUnit
{
    private bool TrySseMove(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Movaps: case Mnemonic.Movapd: case Mnemonic.Movdqa:
            case Mnemonic.Movntps: case Mnemonic.Movntpd: case Mnemonic.Movntdq: case Mnemonic.Movntdqa:
                CheckSse(); MoveFull(ref ins, aligned: true); return true;
            case Mnemonic.Movups: case Mnemonic.Movupd: case Mnemonic.Movdqu: case Mnemonic.Lddqu:
                CheckSse(); MoveFull(ref ins, aligned: false); return true;
            case Mnemonic.Movd: case Mnemonic.Movq:
                CheckSse(); MoveDq(ref ins); return true;
            case Mnemonic.Movss: CheckSse(); MoveScalar(ref ins, 4); return true;
            case Mnemonic.Movsd: CheckSse(); MoveScalar(ref ins, 8); return true;
            case Mnemonic.Movlps: case Mnemonic.Movlpd: case Mnemonic.Movhps: case Mnemonic.Movhpd:
            case Mnemonic.Movhlps: case Mnemonic.Movlhps:
                CheckSse(); MoveHalf(ref ins); return true;
            case Mnemonic.Movddup:
            {
                CheckSse();
                ulong lo = ReadXmmOperand(ref ins, 1).AsUInt64().GetElement(0);
                Xmm0(ref ins) = Vector128.Create(lo, lo).AsByte();
                return true;
            }
            case Mnemonic.Movshdup: case Mnemonic.Movsldup:
            {
                CheckSse();
                var s = ReadXmmOperand(ref ins, 1).AsUInt32();
                int o = ins.Mnemonic == Mnemonic.Movshdup ? 1 : 0;
                Xmm0(ref ins) = Vector128.Create(s.GetElement(o), s.GetElement(o), s.GetElement(o + 2), s.GetElement(o + 2)).AsByte();
                return true;
            }
            case Mnemonic.Movnti:
                WriteMemoryOperand(ref ins, OperandSize(ref ins, 1), ReadGpr(ins.Op1Register)); return true;
        }
        return false;
    }

    private void MoveFull(ref Instruction ins, bool aligned)
    {
        if (ins.Op0Kind == OpKind.Register) Xmm0(ref ins) = ReadXmmOperand(ref ins, 1);
        else WriteXmmOperand(ref ins, Xmm[XmmIndex(ins.Op1Register)], aligned);
    }

    /// <summary>MOVD/MOVQ between XMM and GPR/memory (loads zero the rest of the register), and MOVQ xmm, xmm.</summary>
    private void MoveDq(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register && IsXmm(ins.Op0Register))
        {
            bool q = ins.Mnemonic == Mnemonic.Movq;
            ulong v = ReadXmmOperand(ref ins, 1).AsUInt64().GetElement(0);
            Xmm0(ref ins) = Vector128.CreateScalar(q ? v : (uint)v).AsByte();
            return;
        }
        ulong lo = Xmm[XmmIndex(ins.Op1Register)].AsUInt64().GetElement(0);
        int size = ins.Mnemonic == Mnemonic.Movq ? 8 : 4;
        if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, size == 8 ? lo : (uint)lo);
        else WriteMemoryOperand(ref ins, size, lo);
    }

    /// <summary>MOVSS/MOVSD: register to register merges the low element; a load zeroes the rest.</summary>
    private void MoveScalar(ref Instruction ins, int size)
    {
        bool dbl = size == 8;
        if (ins.Op0Kind == OpKind.Memory)
        {
            WriteMemoryOperand(ref ins, size, Lane(Xmm[XmmIndex(ins.Op1Register)], 0, dbl));
            return;
        }
        if (ins.Op1Kind == OpKind.Memory)
        {
            Xmm0(ref ins) = Vector128.CreateScalar(ReadMemoryOperand(ref ins, size)).AsByte();
            return;
        }
        Xmm0(ref ins) = WithLane(Xmm0(ref ins), 0, Lane(Xmm[XmmIndex(ins.Op1Register)], 0, dbl), dbl);
    }

    private void MoveHalf(ref Instruction ins)
    {
        bool high = ins.Mnemonic is Mnemonic.Movhps or Mnemonic.Movhpd;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Movhlps:
                Xmm0(ref ins) = Xmm0(ref ins).AsUInt64().WithElement(0, Xmm[XmmIndex(ins.Op1Register)].AsUInt64().GetElement(1)).AsByte();
                return;
            case Mnemonic.Movlhps:
                Xmm0(ref ins) = Xmm0(ref ins).AsUInt64().WithElement(1, Xmm[XmmIndex(ins.Op1Register)].AsUInt64().GetElement(0)).AsByte();
                return;
        }
        if (ins.Op0Kind == OpKind.Memory)
            WriteMemoryOperand(ref ins, 8, Xmm[XmmIndex(ins.Op1Register)].AsUInt64().GetElement(high ? 1 : 0));
        else
            Xmm0(ref ins) = Xmm0(ref ins).AsUInt64().WithElement(high ? 1 : 0, ReadMemoryOperand(ref ins, 8)).AsByte();
    }
}
