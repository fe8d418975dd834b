using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>PUSH POP PUSHA POPA PUSHF POPF ENTER LEAVE and the stack primitives everything else uses.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Stack address size in bytes: 8 in 64-bit mode, else SS.B.</summary>
    private int StackAddressSize => Bitness == 64 ? 8 : Seg[SS].DefaultBig ? 4 : 2;

    private ulong StackPointer => Gpr[4] & SizeMask(StackAddressSize);

    private void SetStackPointer(ulong value) => WriteGprSized(4, StackAddressSize, value);

    internal void Push(ulong value, int size)
    {
        ulong sp = (Gpr[4] - (ulong)size) & SizeMask(StackAddressSize);
        WriteVirtual(SS, sp, size, value);
        SetStackPointer(sp);
    }

    internal ulong Pop(int size)
    {
        ulong sp = StackPointer;
        ulong v = ReadVirtual(SS, sp, size);
        SetStackPointer(sp + (ulong)size);
        return v;
    }

    /// <summary>Reads the stack at RSP+<paramref name="offset"/> without moving RSP.</summary>
    internal ulong PeekStack(int offset, int size) =>
        ReadVirtual(SS, (Gpr[4] + (ulong)offset) & SizeMask(StackAddressSize), size);

    private void ExecutePush(ref Instruction ins)
    {
        int size = -ins.StackPointerIncrement;
        ulong value = ReadOperand(ref ins, 0, size);
        Push(value, size);
    }

    private void ExecutePop(ref Instruction ins)
    {
        int size = ins.StackPointerIncrement;
        if (ins.Op0Kind == OpKind.Register)
        {
            Register r = ins.Op0Register;
            int seg = SegmentIndex(r);
            if (seg >= 0)
            {
                ulong sel = PeekStack(0, size);
                _segments.Load(seg, (ushort)sel);
                SetStackPointer(Gpr[4] + (ulong)size);
                if (seg == SS) _interruptShadow = true;
                _endBlock = true;
                return;
            }
            ulong v = Pop(size);
            WriteGpr(r, v);
            return;
        }
        ulong oldSp = Gpr[4];
        ulong value = Pop(size);
        try
        {
            // The destination address is computed with the incremented RSP, as the architecture says.
            WriteMemoryOperand(ref ins, size, value);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            throw;
        }
    }

    private void ExecutePusha(ref Instruction ins)
    {
        int size = ins.Mnemonic == Mnemonic.Pushad ? 4 : 2;
        ulong sp = Gpr[4];
        ulong start = StackPointer;
        ulong mask = SizeMask(StackAddressSize);
        // Check the whole frame first so a fault leaves RSP alone.
        SegmentedLinear(SS, (start - (ulong)(8 * size)) & mask, 8 * size, AccessKind.Write);
        for (int i = 0; i < 8; i++)
        {
            ulong v = i == 4 ? sp : Gpr[i];
            WriteVirtual(SS, (start - (ulong)((i + 1) * size)) & mask, size, v);
        }
        SetStackPointer(start - (ulong)(8 * size));
    }

    private void ExecutePopa(ref Instruction ins)
    {
        int size = ins.Mnemonic == Mnemonic.Popad ? 4 : 2;
        ulong start = StackPointer;
        ulong mask = SizeMask(StackAddressSize);
        var values = new ulong[8];
        for (int i = 0; i < 8; i++) values[7 - i] = ReadVirtual(SS, (start + (ulong)(i * size)) & mask, size);
        for (int i = 0; i < 8; i++)
            if (i != 4) WriteGprSized(i, size, values[i]);
        SetStackPointer(start + (ulong)(8 * size));
    }

    private void ExecutePushf(ref Instruction ins)
    {
        CheckVm86Iopl();
        int size = -ins.StackPointerIncrement;
        Push(GetRflags() & ~(Rf | Vm), size);
    }

    private void ExecutePopf(ref Instruction ins)
    {
        CheckVm86Iopl();
        int size = ins.StackPointerIncrement;
        ulong v = PeekStack(0, size);
        ulong old = GetRflags();
        ulong changeable = Cf | Pf | Af | Zf | Sf | Tf | Df | Of | Nt | Ac | Id;
        bool pe = (Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0;
        if (!pe || Cpl == 0) changeable |= Iopl | If;
        else if (Cpl <= IoPrivilegeLevel) changeable |= If;
        if (size == 2) changeable &= 0xFFFF;
        SetRflags((old & ~changeable) | (v & changeable));
        SetStackPointer(Gpr[4] + (ulong)size);
        _endBlock = true; // IF or TF may have changed
        if ((old & Tf) != 0 && (v & Tf) == 0) _singleStepClearedByLoad = true; // it still traps: TF was set as it began
    }

    private static int OperandSizeFromCode(Code code, Code word, Code dword) =>
        code == word ? 2 : code == dword ? 4 : 8;

    private void ExecuteEnter(ref Instruction ins)
    {
        int size = OperandSizeFromCode(ins.Code, Code.Enterw_imm16_imm8, Code.Enterd_imm16_imm8);
        ulong allocation = ins.Immediate16;
        int level = ins.Immediate8_2nd & 31;
        ulong mask = SizeMask(StackAddressSize);
        ulong oldSp = Gpr[4], oldBp = Gpr[5];
        try
        {
            Push(Gpr[5], size);
            ulong frame = StackPointer;
            if (level > 0)
            {
                ulong bp = Gpr[5];
                for (int i = 1; i < level; i++)
                {
                    bp = (bp - (ulong)size) & mask;
                    Push(ReadVirtual(SS, bp, size), size);
                }
                Push(frame, size);
            }
            ulong newSp = (StackPointer - allocation) & mask;
            // The final stack pointer must be writable, as hardware checks.
            SegmentedLinear(SS, newSp, 1, AccessKind.Write);
            WriteGprSized(5, size, frame);
            SetStackPointer(newSp);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            Gpr[5] = oldBp;
            throw;
        }
    }

    private void ExecuteLeave(ref Instruction ins)
    {
        int size = OperandSizeFromCode(ins.Code, Code.Leavew, Code.Leaved);
        ulong bp = Gpr[5] & SizeMask(StackAddressSize);
        ulong v = ReadVirtual(SS, bp, size);
        SetStackPointer(bp + (ulong)size);
        WriteGprSized(5, size, v);
    }
}
