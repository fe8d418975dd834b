using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using Vessel.Cpu.Fpu;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>MMX: the 64-bit packed-integer forms on MM0-MM7, which alias the mantissas of the x87 physical
/// registers R0-R7. Every MMX instruction empties nothing but makes the whole stack valid with TOP = 0; a
/// write also sets the register's sign/exponent field to all ones; EMMS marks every register empty. The
/// arithmetic reuses the 128-bit SSE forms on the low quadword.</summary>
internal sealed partial class SimdUnit
{
    private static bool HasMmxRegister(ref Instruction ins)
    {
        for (int i = 0; i < ins.OpCount; i++)
            if (ins.GetOpKind(i) == OpKind.Register && ins.GetOpRegister(i) is >= Register.MM0 and <= Register.MM7) return true;
        return false;
    }

    /// <summary>#UD with CR0.EM, #NM with CR0.TS, #MF for a pending unmasked x87 exception (CR0.NE).</summary>
    private void CheckMmx()
    {
        if ((Cr0 & ControlRegisters.Cr0Em) != 0) FaultNoCode(Vector.UD);
        if ((Cr0 & ControlRegisters.Cr0Ts) != 0) FaultNoCode(Vector.NM);
        if (_x87.ExceptionPending && (Cr0 & ControlRegisters.Cr0Ne) != 0) FaultNoCode(Vector.MF);
    }

    private void EnterMmx() => _x87.EnterMmx();

    private static int MmIndex(Register r) => r - Register.MM0;

    private void WriteMm(Register r, ulong v) => _x87.WriteMm(MmIndex(r), v);

    /// <summary>Operand <paramref name="n"/> as 64 bits: an MM register, a GPR, or memory of the operand's size.</summary>
    private ulong ReadMmOperand(ref Instruction ins, int n)
    {
        if (ins.GetOpKind(n) == OpKind.Register)
        {
            Register r = ins.GetOpRegister(n);
            return r is >= Register.MM0 and <= Register.MM7 ? _x87.ReadMm(MmIndex(r)) : ReadGpr(r);
        }
        return ReadMemoryOperand(ref ins, MemorySizeOf(ref ins));
    }

    /// <summary>EMMS and the MMX-register forms; false if <paramref name="ins"/> is neither.</summary>
    private bool TryMmx(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Emms: CheckMmx(); _x87.EmptyMmx(); return true;
            case Mnemonic.Cvtpi2ps: case Mnemonic.Cvtpi2pd: case Mnemonic.Cvtps2pi: case Mnemonic.Cvttps2pi:
            case Mnemonic.Cvtpd2pi: case Mnemonic.Cvttpd2pi:
                MmxConvert(ref ins); return true;
            case Mnemonic.Movd: case Mnemonic.Movq: case Mnemonic.Movntq: MmxMove(ref ins); return true;
            case Mnemonic.Movq2dq:
                CheckSse(); CheckMmx(); EnterMmx();
                Xmm0(ref ins) = Vector128.CreateScalar(_x87.ReadMm(MmIndex(ins.Op1Register))).AsByte();
                return true;
            case Mnemonic.Movdq2q:
                CheckSse(); CheckMmx(); EnterMmx();
                WriteMm(ins.Op0Register, Xmm[XmmIndex(ins.Op1Register)].AsUInt64().GetElement(0));
                return true;
            case Mnemonic.Pmovmskb:
                CheckMmx(); EnterMmx();
                WriteGpr(ins.Op0Register, (uint)Sse2.MoveMask(Vector128.CreateScalar(_x87.ReadMm(MmIndex(ins.Op1Register))).AsByte()) & 0xFF);
                return true;
            case Mnemonic.Pextrw:
                CheckMmx(); EnterMmx();
                WriteGpr(ins.Op0Register, (ushort)(_x87.ReadMm(MmIndex(ins.Op1Register)) >> (16 * (ins.Immediate8 & 3))));
                return true;
            case Mnemonic.Pinsrw: MmxInsertWord(ref ins); return true;
            case Mnemonic.Pshufw: MmxShuffleWords(ref ins); return true;
            case Mnemonic.Palignr: MmxAlignRight(ref ins); return true;
            case Mnemonic.Maskmovq:
                CheckMmx(); EnterMmx();
                MaskedStore(ref ins, Vector128.CreateScalar(_x87.ReadMm(MmIndex(ins.Op1Register))).AsByte(),
                    Vector128.CreateScalar(_x87.ReadMm(MmIndex(ins.Op2Register))).AsByte(), 8);
                return true;
            case Mnemonic.Pabsb: case Mnemonic.Pabsw: case Mnemonic.Pabsd: MmxAbsolute(ref ins); return true;
        }
        return MmxBinary(ref ins);
    }

    /// <summary>MOVD/MOVQ/MOVNTQ between MM registers, GPRs and memory (MOVD takes the low doubleword).</summary>
    private void MmxMove(ref Instruction ins)
    {
        CheckMmx();
        ulong v = ReadMmOperand(ref ins, 1);
        if (ins.Mnemonic == Mnemonic.Movd) v = (uint)v;
        EnterMmx();
        if (ins.Op0Kind == OpKind.Memory) WriteMemoryOperand(ref ins, ins.Mnemonic == Mnemonic.Movd ? 4 : 8, v);
        else if (ins.Op0Register is >= Register.MM0 and <= Register.MM7) WriteMm(ins.Op0Register, v);
        else WriteGpr(ins.Op0Register, v);
    }

    /// <summary>PINSRW mm: the word imm8[1:0] replaced.</summary>
    private void MmxInsertWord(ref Instruction ins)
    {
        CheckMmx();
        ulong w = (ushort)ReadMmOperand(ref ins, 1);
        EnterMmx();
        int shift = 16 * (ins.Immediate8 & 3);
        ulong d = _x87.ReadMm(MmIndex(ins.Op0Register));
        WriteMm(ins.Op0Register, (d & ~(0xFFFFUL << shift)) | w << shift);
    }

    /// <summary>PSHUFW: word i of the result is source word imm8[2i+1:2i].</summary>
    private void MmxShuffleWords(ref Instruction ins)
    {
        CheckMmx();
        ulong s = ReadMmOperand(ref ins, 1), r = 0;
        EnterMmx();
        int imm = ins.Immediate8;
        for (int i = 0; i < 4; i++) r |= ((s >> (16 * ((imm >> (2 * i)) & 3))) & 0xFFFF) << (16 * i);
        WriteMm(ins.Op0Register, r);
    }

    /// <summary>PALIGNR mm: 8 bytes of the destination:source pair shifted right by imm8 bytes.</summary>
    private void MmxAlignRight(ref Instruction ins)
    {
        CheckMmx();
        ulong s = ReadMmOperand(ref ins, 1);
        EnterMmx();
        int n = ins.Immediate8;
        UInt128 both = new(_x87.ReadMm(MmIndex(ins.Op0Register)), s);
        WriteMm(ins.Op0Register, n >= 16 ? 0 : (ulong)(both >> (8 * n)));
    }

    /// <summary>PABSB/PABSW/PABSD mm: the 128-bit form on the low quadword.</summary>
    private void MmxAbsolute(ref Instruction ins)
    {
        CheckMmx();
        ulong s = ReadMmOperand(ref ins, 1);
        EnterMmx();
        WriteMm(ins.Op0Register, PackedUnary(ins.Mnemonic, Vector128.CreateScalar(s).AsByte()).AsUInt64().GetElement(0));
    }

    private bool MmxBinary(ref Instruction ins)
    {
        Mnemonic m = ins.Mnemonic;
        if (!IsSharedPackedBinary(m)) return false;
        CheckMmx();
        bool immShift = ins.OpCount == 2 && ins.Op1Kind == OpKind.Immediate8;
        ulong a = _x87.ReadMm(MmIndex(ins.Op0Register));
        ulong b = immShift ? ins.Immediate8 : ReadMmOperand(ref ins, 1);
        EnterMmx();
        Vector128<byte> va = Vector128.CreateScalar(a).AsByte(), vb = Vector128.CreateScalar(b).AsByte();
        ulong r;
        switch (m)
        {
            // Pairwise forms: with both operands side by side, the 128-bit form's low half is the MMX result.
            case Mnemonic.Packsswb: case Mnemonic.Packssdw: case Mnemonic.Packuswb:
            case Mnemonic.Phaddw: case Mnemonic.Phaddd: case Mnemonic.Phaddsw:
            case Mnemonic.Phsubw: case Mnemonic.Phsubd: case Mnemonic.Phsubsw:
            {
                Vector128<byte> both = Vector128.Create(a, b).AsByte();
                r = PackedBinary(m, both, both, 0).AsUInt64().GetElement(0);
                break;
            }
            // Interleaving the high halves of 64-bit operands is the upper half of interleaving their low halves.
            case Mnemonic.Punpckhbw: r = PackedBinary(Mnemonic.Punpcklbw, va, vb, 0).AsUInt64().GetElement(1); break;
            case Mnemonic.Punpckhwd: r = PackedBinary(Mnemonic.Punpcklwd, va, vb, 0).AsUInt64().GetElement(1); break;
            case Mnemonic.Punpckhdq: r = PackedBinary(Mnemonic.Punpckldq, va, vb, 0).AsUInt64().GetElement(1); break;
            // PSHUFB on MM uses index bits 2:0: with the source duplicated, bit 3 selects the same byte.
            case Mnemonic.Pshufb: r = PackedBinary(m, Vector128.Create(a, a).AsByte(), vb, 0).AsUInt64().GetElement(0); break;
            default: r = PackedBinary(m, va, vb, immShift ? (byte)b : (byte)0).AsUInt64().GetElement(0); break;
        }
        WriteMm(ins.Op0Register, r);
        return true;
    }

    /// <summary>CVTPI2PS/CVTPI2PD (two int32 from MM or m64), CVT(T)PS2PI and CVT(T)PD2PI (to MM). A memory
    /// source makes no x87 transition.</summary>
    private void MmxConvert(ref Instruction ins)
    {
        CheckSse();
        bool mmSource = ins.Op1Kind == OpKind.Register && ins.Op1Register is >= Register.MM0 and <= Register.MM7;
        bool toMm = ins.Op0Register is >= Register.MM0 and <= Register.MM7;
        if (mmSource || toMm) CheckMmx();
        uint flags = 0;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cvtpi2ps: case Mnemonic.Cvtpi2pd:
            {
                ulong s = ReadMmOperand(ref ins, 1);
                bool dbl = ins.Mnemonic == Mnemonic.Cvtpi2pd;
                Vector128<byte> r = dbl ? Vector128<byte>.Zero : Xmm0(ref ins);
                for (int i = 0; i < 2; i++) r = WithLane(r, i, SseArith.FromInteger((int)(uint)(s >> (32 * i)), dbl, Mxcsr, ref flags), dbl);
                CommitSimdFlags(flags);
                if (mmSource) EnterMmx();
                Xmm0(ref ins) = r;
                return;
            }
            default:
            {
                bool dbl = ins.Mnemonic is Mnemonic.Cvtpd2pi or Mnemonic.Cvttpd2pi;
                bool truncate = ins.Mnemonic is Mnemonic.Cvttps2pi or Mnemonic.Cvttpd2pi;
                Vector128<byte> s = ReadXmmOperand(ref ins, 1);
                ulong r = 0;
                for (int i = 0; i < 2; i++) r |= SseArith.ToInteger(Lane(s, i, dbl), dbl, truncate, false, Mxcsr, ref flags) << (32 * i);
                CommitSimdFlags(flags);
                EnterMmx();
                WriteMm(ins.Op0Register, r);
                return;
            }
        }
    }
}
