using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>SHL, SHR, SAR, ROL and ROR of any size, of a register or memory, by an immediate (or the implicit 1), and
/// the 32- and 64-bit SHL/SHR/SAR by CL; re-encoded for the host as the other Generic forms are (see
/// NativeTranslator.Rehosted.cs), through the translator's facade. The host computes the result, CF, and for shifts
/// ZF, SF and PF, as the interpreter does; what the architecture leaves undefined the interpreter defines its own way, and where those flags are live
/// they are set to its values: AF cleared after a shift, OF after any count (SHL and ROL: the result's top bit XOR CF,
/// SHR: the operand's top bit, SAR: clear, ROR: the result's two top bits XORed). Left to the interpreter: a masked
/// count of 0 by immediate (rare; it still writes the operand back) and byte or word shifts past the operand's width,
/// where the host's CF is undefined.</summary>
internal sealed class NativeShiftEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;

    private static bool TryRehost(ref Instruction ins, out Instruction host, out FastOp memory) =>
        NativeTranslator.TryRehost(ref ins, out host, out memory);
    private static AssemblerMemoryOperand Slot(Register r) => NativeTranslator.Slot(r);
    private void EmitAccess(ref FastOp f, int tlbOffset, int size, int index) => t.Access(ref f, tlbOffset, size, index);
    private void EmitSaveFlags() => t.SaveFlags();
    private void EmitRestoreFlags() => t.RestoreFlags();
    private void StoreRaxToSlot(Register r) => t.StoreRaxToSlot(r);
    private void CountInstruction() => t.Count();
    private Label OutOfLine(Action code) => t.OutOfLineCode(code);

    /// <summary>Whether this tier translates the shift or rotate <paramref name="ins"/> (see the class); its operand
    /// size, whether it counts by CL, and otherwise its masked count.</summary>
    internal static bool IsTranslatedShift(ref Instruction ins, out int size, out bool byCl, out int count)
    {
        bool rotate = ins.Mnemonic is Mnemonic.Rol or Mnemonic.Ror;
        bool memoryTarget = ins.Op0Kind == OpKind.Memory;
        size = memoryTarget ? ins.MemorySize.GetSize() : RegisterTable.Size[(int)ins.Op0Register];
        byCl = ins.OpCount > 1 && ins.Op1Kind == OpKind.Register;
        count = 0;
        if (!memoryTarget && (ins.Op0Kind != OpKind.Register || !ins.Op0Register.IsGPR())) return false;
        if (byCl) return !rotate && size >= 4 && ins.Op1Register == Register.CL;
        count = (ins.OpCount > 1 ? ins.Immediate8 : 1) & (size == 8 ? 0x3F : 0x1F);
        return count != 0 && (rotate || count < size * 8);
    }

    public bool TryEmit(ref Instruction ins, int index, FlagSet flagsLive)
    {
        Mnemonic m = ins.Mnemonic;
        bool memoryTarget = ins.Op0Kind == OpKind.Memory;
        bool rotate = m is Mnemonic.Rol or Mnemonic.Ror;
        if (!IsTranslatedShift(ref ins, out int size, out bool byCl, out int count)) return false;
        if (!TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;

        // Only AF (shifts) and OF (counts other than 1) can differ from the interpreter's.
        FlagSet mayDiffer = (rotate ? FlagSet.None : FlagSet.Af) | (byCl || count != 1 ? FlagSet.Of : FlagSet.None);
        bool fixUp = (flagsLive & mayDiffer) != 0;
        AssemblerMemoryOperand location = memoryTarget ? __[rdx] : Slot(ins.Op0Register);
        if (memoryTarget) EmitAccess(ref memory, NativeLayout.WriteTlb, size, index);
        // A count of 0 keeps the flags, which the count's masking clobbers (a flag-keeping probe saved nothing).
        if (byCl) EmitSaveFlags();
        // A rotate keeps SF, ZF, AF and PF, which the probe clobbered.
        if (memoryTarget && rotate) EmitRestoreFlags();
        Label done = _a.CreateLabel();
        if (byCl) EmitCountOrKeep(ins.Op0Kind == OpKind.Register && size == 4 ? ins.Op0Register : Register.None, size, done);
        if (!memoryTarget) LoadRehostedOperand0(ins.Op0Register);
        if (fixUp && m == Mnemonic.Shr) LoadZeroExtended(intoR8: true, size, location);
        _a.AddInstruction(host);
        if (!memoryTarget) StoreRaxToSlot(ins.Op0Register);
        if (fixUp) EmitShiftFlagsFix(m, size, location);
        _a.Label(ref done);
        CountInstruction();
        return true;
    }

    /// <summary>CL = the guest's CL masked to the operand size's count; a count of 0 leaves the flags (saved in R10
    /// by the probe or the caller) and the operand as they were, out of line, and goes on at <paramref name="done"/>;
    /// a 32-bit register target is still written, which clears its upper half.</summary>
    private void EmitCountOrKeep(Register target32, int size, Label done)
    {
        _a.movzx(ecx, __byte_ptr[rdi + CpuStateLayout.GprAt(1)]);
        _a.and(ecx, size == 8 ? 0x3F : 0x1F);
        _a.jz(OutOfLine(() =>
        {
            if (target32 != Register.None) _a.mov(__dword_ptr[rdi + CpuStateLayout.GprAt(RegisterTable.GprIndex[(int)target32]) + 4], 0);
            EmitRestoreFlags();
            _a.jmp(done);
        }));
    }

    private void LoadRehostedOperand0(Register r)
    {
        AssemblerMemoryOperand slot = Slot(r);
        switch (RegisterTable.Size[(int)r])
        {
            case 1: _a.mov(al, __byte_ptr[slot]); break;
            case 2: _a.mov(ax, __word_ptr[slot]); break;
            case 4: _a.mov(eax, __dword_ptr[slot]); break;
            default: _a.mov(rax, __qword_ptr[slot]); break;
        }
    }

    /// <summary>After the host's shift or rotate by a non-zero count: AF and OF set the interpreter's way (see the
    /// class), the host's CF, ZF, SF and PF kept. For SHR, R8 holds the operand before the shift; the result is read
    /// back from <paramref name="location"/>.</summary>
    private void EmitShiftFlagsFix(Mnemonic m, int size, AssemblerMemoryOperand location)
    {
        byte top = (byte)(size * 8 - 1);
        if (m is not (Mnemonic.Shr or Mnemonic.Sar)) LoadZeroExtended(intoR8: false, size, location);
        _a.lahf();
        switch (m)
        {
            case Mnemonic.Shr:
                _a.mov(rcx, r8);
                _a.shr(rcx, top);
                break;
            case Mnemonic.Sar:
                _a.xor(ecx, ecx);
                break;
            case Mnemonic.Ror:
                _a.mov(r8, rcx);
                _a.shr(r8, 1);
                _a.xor(rcx, r8);
                _a.shr(rcx, (byte)(top - 1));
                break;
            default: // SHL, SAL, ROL: the top bit XOR CF (AH's bit 0)
                _a.shr(rcx, top);
                _a.xor(cl, ah);
                break;
        }
        _a.and(ecx, 1);
        if (m is not (Mnemonic.Rol or Mnemonic.Ror)) _a.and(ah, unchecked((byte)~0x10));
        _a.mov(al, cl);
        _a.add(al, 0x7F);
        _a.sahf();
    }

    /// <summary>RCX (or R8) = the <paramref name="size"/>-byte value at <paramref name="location"/>, zero-extended.</summary>
    private void LoadZeroExtended(bool intoR8, int size, AssemblerMemoryOperand location)
    {
        switch (size, intoR8)
        {
            case (1, false): _a.movzx(ecx, __byte_ptr[location]); break;
            case (2, false): _a.movzx(ecx, __word_ptr[location]); break;
            case (4, false): _a.mov(ecx, __dword_ptr[location]); break;
            case (_, false): _a.mov(rcx, __qword_ptr[location]); break;
            case (1, true): _a.movzx(r8d, __byte_ptr[location]); break;
            case (2, true): _a.movzx(r8d, __word_ptr[location]); break;
            case (4, true): _a.mov(r8d, __dword_ptr[location]); break;
            default: _a.mov(r8, __qword_ptr[location]); break;
        }
    }
}
