using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Forms the decoder leaves Generic that the host can run as the guest wrote them: byte and word operands
/// (AH-BH included), NEG, NOT, INC and DEC of memory, SETcc, BSWAP, MOVZX/MOVSX of narrow registers, narrow MOVs. The
/// guest's own instruction is re-encoded for the host with its operands moved: a register first operand into RAX at
/// its size (AL, AX, EAX or RAX), a register second operand into RCX (CL for a shift count), a memory operand to [RDX]
/// after the probe. The host then computes the result and the flags as the guest instruction defines them, and a
/// written register goes back at its size (a 32-bit one zero-extended, as the host's 32-bit write left RAX). This
/// part holds the operand moves the emitters share; <see cref="NativeRehostedEmitter"/> picks the forms.</summary>
internal sealed partial class NativeTranslator
{
    /// <summary>After the host's IMUL of <paramref name="size"/> bytes into RAX (CF = OF = overflow, the rest
    /// undefined): ZF, SF and PF from the truncated product and AF clear, as the interpreter defines them.</summary>
    private void EmitImulFlags(int size)
    {
        _a.setc(cl);
        switch (size)
        {
            case 2: _a.test(ax, ax); break;
            case 4: _a.test(eax, eax); break;
            default: _a.test(rax, rax); break;
        }
        _a.lahf();
        _a.and(ah, unchecked((byte)~0x10));
        _a.or(ah, cl);
        _a.mov(al, cl);
        _a.add(al, 0x7F);
        _a.sahf();
    }

    /// <summary>The host's copy of <paramref name="ins"/> with its operands moved (see the class), and the memory
    /// operand's form (AddressMask 0 when there is none); false for operands this tier does not move: non-GPR
    /// registers, moffs and odd address forms, a third operand that is not an immediate.</summary>
    internal static bool TryRehost(ref Instruction ins, out Instruction host, out FastOp memory)
    {
        host = ins;
        host.IP = 0; // the assembler keys labels on instruction IPs
        memory = default;
        if (ins.OpCount is 0 or > 3) return false;
        if (ins.Code is Code.Mov_AL_moffs8 or Code.Mov_AX_moffs16 or Code.Mov_EAX_moffs32 or Code.Mov_RAX_moffs64
            or Code.Mov_moffs8_AL or Code.Mov_moffs16_AX or Code.Mov_moffs32_EAX or Code.Mov_moffs64_RAX) return false;
        for (int k = 0; k < ins.OpCount; k++)
        {
            switch (ins.GetOpKind(k))
            {
                case OpKind.Register:
                {
                    Register r = ins.GetOpRegister(k);
                    if (!r.IsGPR() || k == 2) return false;
                    host.SetOpRegister(k, HostRegister(k == 0 ? Register.RAX : Register.RCX, RegisterTable.Size[(int)r]));
                    break;
                }
                case OpKind.Memory:
                    if (!X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
                    MemoryOperandAtRdx(ref host);
                    break;
                case OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate8to16
                    or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64:
                    break;
                default:
                    return false;
            }
        }
        return HostEncodes(ref host);
    }

    /// <summary>Points a re-hosted instruction's memory operand at [RDX], where the TLB probe leaves the host address.</summary>
    internal static void MemoryOperandAtRdx(ref Instruction host)
    {
        host.MemoryBase = Register.RDX;
        host.MemoryIndex = Register.None;
        host.MemoryIndexScale = 1;
        host.MemoryDisplacement64 = 0;
        host.MemoryDisplSize = 0;
        host.SegmentPrefix = Register.None;
    }

    [ThreadStatic] private static Encoder? _trialEncoder;

    /// <summary>Whether the host encoder takes <paramref name="host"/>: the assembler encodes only at the block's end,
    /// where a form it refuses would lose the whole translation, so such a form stays with the interpreter.</summary>
    internal static bool HostEncodes(ref Instruction host)
    {
        _trialEncoder ??= Encoder.Create(64, new DiscardingCodeWriter());
        return _trialEncoder.TryEncode(host, 0, out _, out _);
    }

    private sealed class DiscardingCodeWriter : CodeWriter
    {
        public override void WriteByte(byte value) { }
    }

    /// <summary>RAX's or RCX's register of <paramref name="size"/> bytes.</summary>
    internal static Register HostRegister(Register family, int size) => (family, size) switch
    {
        (Register.RAX, 1) => Register.AL, (Register.RAX, 2) => Register.AX, (Register.RAX, 4) => Register.EAX,
        (Register.RAX, _) => Register.RAX, (_, 1) => Register.CL, (_, 2) => Register.CX, (_, 4) => Register.ECX,
        _ => Register.RCX,
    };

    /// <summary>Where guest register <paramref name="r"/> lives in the state (AH-BH one byte into their GPR).</summary>
    internal static AssemblerMemoryOperand Slot(Register r) =>
        __[rdi + CpuStateLayout.GprAt(RegisterTable.GprIndex[(int)r]) + (RegisterTable.IsHigh8[(int)r] ? 1 : 0)];

    /// <summary>Loads the register operands into RAX and RCX at their sizes (MOVs: the flags stay).</summary>
    internal void LoadRehostedRegisters(ref Instruction ins)
    {
        for (int k = 0; k < ins.OpCount; k++)
        {
            if (ins.GetOpKind(k) != OpKind.Register) continue;
            Register r = ins.GetOpRegister(k);
            AssemblerMemoryOperand slot = Slot(r);
            switch (RegisterTable.Size[(int)r], k == 0)
            {
                case (1, true): _a.mov(al, __byte_ptr[slot]); break;
                case (2, true): _a.mov(ax, __word_ptr[slot]); break;
                case (4, true): _a.mov(eax, __dword_ptr[slot]); break;
                case (_, true): _a.mov(rax, __qword_ptr[slot]); break;
                case (1, false): _a.mov(cl, __byte_ptr[slot]); break;
                case (2, false): _a.mov(cx, __word_ptr[slot]); break;
                case (4, false): _a.mov(ecx, __dword_ptr[slot]); break;
                default: _a.mov(rcx, __qword_ptr[slot]); break;
            }
        }
    }

    /// <summary>Guest register <paramref name="r"/> = RAX at its size; a 32-bit one is stored with RAX's zero upper
    /// half, as the guest's 32-bit write clears it.</summary>
    internal void StoreRaxToSlot(Register r)
    {
        AssemblerMemoryOperand slot = Slot(r);
        switch (RegisterTable.Size[(int)r])
        {
            case 1: _a.mov(__byte_ptr[slot], al); break;
            case 2: _a.mov(__word_ptr[slot], ax); break;
            default: _a.mov(__qword_ptr[slot], rax); break;
        }
    }
}
