using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>BT, BTS, BTR and BTC (of a register or memory, by an immediate or a register, LOCKed ones too) and BSF,
/// BSR, TZCNT, LZCNT, for the native tier.
/// <para>The bit tests run as the host's instruction on the moved operands (see NativeTranslator.Rehosted.cs). They
/// set CF; the interpreter keeps the other flags, which the host leaves undefined, so where those are live they are
/// saved before and put back around the host's CF. A register bit offset with a memory operand addresses a bit string:
/// the operand's address moves by the offset's signed operand-size units before the probe (which then probes the
/// word really accessed), and the offset is masked to the operand size for the host, which would move it again.
/// LOCKed forms are the host's LOCKed instruction on guest RAM, atomic against the interpreter's compare-and-swap;
/// one whose operand crosses a 64-byte line goes to the interpreter (which runs it under the VM's lock).</para>
/// <para>The bit scans are computed without the host's BSF/BSR on a zero source (undefined there): a zero source
/// leaves the destination as it was, ZF and PF set, the rest clear; otherwise the index is written, PF is its parity
/// and the rest clear, the interpreter's values. TZCNT and LZCNT of zero give the operand's width with CF set,
/// otherwise the count with ZF set when it is 0; the other flags clear.</para></summary>
internal sealed class NativeBitOpsEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;

    /// <summary>Whether this emitter translates <paramref name="ins"/> when its memory operand (if any) is mapped.</summary>
    public static bool Takes(ref Instruction ins)
    {
        bool memory = ins.Op0Kind == OpKind.Memory;
        if (ins.Mnemonic is Mnemonic.Tzcnt or Mnemonic.Lzcnt) return TakesScan(ref ins); // F3 is part of their opcode
        if (ins.HasRepPrefix || ins.HasRepnePrefix) return false;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc:
            {
                if (ins.HasLockPrefix && (!memory || ins.Mnemonic == Mnemonic.Bt)) return false;
                if (!memory && !IsGpr(ins.Op0Register)) return false;
                if (ins.Op1Kind == OpKind.Immediate8) return true;
                if (ins.Op1Kind != OpKind.Register || !IsGpr(ins.Op1Register)) return false;
                return !memory || ins.MemorySize.GetSize() is 4 or 8;
            }
            case Mnemonic.Bsf or Mnemonic.Bsr:
                return TakesScan(ref ins);
            default:
                return false;
        }
    }

    private static bool TakesScan(ref Instruction ins) => !ins.HasLockPrefix && IsGpr(ins.Op0Register)
        && (ins.Op1Kind == OpKind.Memory || ins.Op1Kind == OpKind.Register && IsGpr(ins.Op1Register));

    /// <summary>The flags live before a register-only form this emitter takes, given those live after.</summary>
    public static FlagSet LiveBefore(ref Instruction ins, FlagSet after) =>
        ins.Mnemonic is Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Tzcnt or Mnemonic.Lzcnt ? FlagSet.None : after & ~FlagSet.Cf;

    private static bool IsGpr(Register r) => r.IsGPR() && RegisterTable.Size[(int)r] >= 2;

    public bool TryEmit(ref Instruction ins, int index, FlagSet flagsLive)
    {
        if (!Takes(ref ins) || !NativeTranslator.TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;
        if (ins.Mnemonic is Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Tzcnt or Mnemonic.Lzcnt) EmitBitScan(ref ins, ref memory, index);
        else EmitBitTest(ref ins, host, ref memory, index, flagsLive);
        t.Count();
        return true;
    }

    private void EmitBitTest(ref Instruction ins, Instruction host, ref FastOp memory, int index, FlagSet flagsLive)
    {
        bool inMemory = ins.Op0Kind == OpKind.Memory;
        bool byRegister = ins.Op1Kind == OpKind.Register;
        int size = inMemory ? ins.MemorySize.GetSize() : RegisterTable.Size[(int)ins.Op0Register];
        bool keepOthers = (flagsLive & ~FlagSet.Cf) != 0;
        if (inMemory)
        {
            int tlb = ins.Mnemonic == Mnemonic.Bt ? NativeLayout.ReadTlb : NativeLayout.WriteTlb;
            if (byRegister) EmitBitStringAccess(ref memory, ins.Op1Register, size, tlb, index);
            else t.Access(ref memory, tlb, size, index);
        }
        if (keepOthers || ins.HasLockPrefix || inMemory && byRegister) t.SaveFlags();
        if (ins.HasLockPrefix) t.HandBackIfSplitLine(size, index);
        t.LoadRehostedRegisters(ref ins);
        // The host would move a memory operand by the offset's high bits again: only the bit within it is left.
        if (inMemory && byRegister) _a.and(ecx, size * 8 - 1);
        _a.AddInstruction(host);
        if (!inMemory && ins.Mnemonic != Mnemonic.Bt) t.StoreRaxToSlot(ins.Op0Register);
        if (keepOthers)
        {
            _a.setc(cl);
            t.RestoreFlagsWithCarryFromCl();
        }
        else t.DropSavedFlags(); // CF is the host's; nothing reads the rest
    }

    /// <summary>R9 = the linear address of the operand-size word holding bit [offset register] of the bit string at
    /// the memory operand, then the probe. The flags are saved around the address arithmetic.</summary>
    private void EmitBitStringAccess(ref FastOp memory, Register offset, int size, int tlbOffset, int index)
    {
        t.EffectiveAddress(ref memory);
        t.SaveFlags();
        AssemblerMemoryOperand slot = NativeTranslator.Slot(offset);
        if (size == 8) _a.mov(rcx, __qword_ptr[slot]); else _a.movsxd(rcx, __dword_ptr[slot]);
        _a.sar(rcx, (byte)(size == 8 ? 6 : 5));
        _a.lea(r9, __[r9 + rcx * size]);
        if (memory.AddressMask != ulong.MaxValue) _a.mov(r9d, r9d);
        if (memory.MemorySegment >= X86Cpu.FS)
        {
            _a.mov(rax, __qword_ptr[rdi + CpuStateLayout.SegmentBaseAt(memory.MemorySegment)]);
            _a.lea(r9, __[r9 + rax]);
        }
        t.RestoreFlags();
        t.Probe(tlbOffset, size, index);
    }

    private void EmitBitScan(ref Instruction ins, ref FastOp memory, int index)
    {
        int size = RegisterTable.Size[(int)ins.Op0Register];
        AssemblerMemoryOperand source;
        if (ins.Op1Kind == OpKind.Memory)
        {
            t.Access(ref memory, NativeLayout.ReadTlb, size, index);
            source = __[rdx];
        }
        else source = NativeTranslator.Slot(ins.Op1Register);
        t.DropSavedFlags(); // every flag is set below
        switch (size)
        {
            case 2: _a.movzx(ecx, __word_ptr[source]); break;
            case 4: _a.mov(ecx, __dword_ptr[source]); break;
            default: _a.mov(rcx, __qword_ptr[source]); break;
        }
        Label zero = _a.CreateLabel(), done = _a.CreateLabel();
        _a.test(rcx, rcx);
        _a.jz(zero);
        bool count = ins.Mnemonic is Mnemonic.Tzcnt or Mnemonic.Lzcnt;
        if (ins.Mnemonic is Mnemonic.Bsf or Mnemonic.Tzcnt) _a.bsf(rcx, rcx); else _a.bsr(rcx, rcx);
        if (ins.Mnemonic == Mnemonic.Lzcnt) _a.xor(ecx, size * 8 - 1); // the top bit's index from the top
        AssemblerMemoryOperand destination = NativeTranslator.Slot(ins.Op0Register);
        StoreRcx(destination, size);
        if (count)
        {
            // ZF = (count == 0), the rest clear: AH from CF of count - 1, OF cleared by the AND.
            _a.cmp(ecx, 1);
            _a.sbb(eax, eax);
            _a.and(eax, 0x4000);
            _a.sahf();
        }
        else
        {
            // 0x100 + index: CF, OF, SF, ZF and AF clear, PF the index's parity.
            _a.mov(eax, 0x100);
            _a.add(eax, ecx);
        }
        _a.jmp(done);
        _a.Label(ref zero);
        if (count)
        {
            // The operand's width, CF set and the rest clear (the XOR clears OF).
            _a.mov(ecx, size * 8);
            StoreRcx(destination, size);
            _a.xor(eax, eax);
            _a.mov(ah, 1);
            _a.sahf();
        }
        else _a.sub(eax, eax); // ZF and PF set, the rest clear
        _a.Label(ref done);
    }

    private void StoreRcx(AssemblerMemoryOperand destination, int size)
    {
        if (size == 2) _a.mov(__word_ptr[destination], cx); else _a.mov(__qword_ptr[destination], rcx);
    }
}
