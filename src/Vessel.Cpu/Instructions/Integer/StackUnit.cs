using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>PUSH POP PUSHA POPA PUSHF POPF ENTER LEAVE, on the CPU's stack primitives (<see cref="IIntegerCpu.Push"/>,
/// <see cref="IIntegerCpu.Pop"/>...), which the system units share.</summary>
internal sealed class StackUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private const int SS = X86Cpu.SS;
    private readonly TCpu _cpu = cpu;

    private ref GprFile Gpr => ref _cpu.State.Gpr;
    private ulong StackMask => X86Cpu.SizeMask(_cpu.StackAddressSize);

    public void Push(ref Instruction ins)
    {
        int size = -ins.StackPointerIncrement;
        ulong value = _cpu.ReadOperand(ref ins, 0, size);
        _cpu.Push(value, size);
    }

    public void Pop(ref Instruction ins)
    {
        int size = ins.StackPointerIncrement;
        if (ins.Op0Kind == OpKind.Register)
        {
            Register r = ins.Op0Register;
            int seg = SegmentIndex(r);
            if (seg >= 0)
            {
                _cpu.PopSegmentRegister(seg, size);
                return;
            }
            ulong v = _cpu.Pop(size);
            _cpu.WriteGpr(r, v);
            return;
        }
        ulong oldSp = Gpr[4];
        ulong value = _cpu.Pop(size);
        try
        {
            // The destination address is computed with the incremented RSP, as the architecture says.
            _cpu.WriteMemoryOperand(ref ins, size, value);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            throw;
        }
    }

    public void Pusha(ref Instruction ins)
    {
        int size = ins.Mnemonic == Mnemonic.Pushad ? 4 : 2;
        ulong sp = Gpr[4];
        ulong mask = StackMask;
        ulong start = sp & mask;
        // Check the whole frame first so a fault leaves RSP alone.
        _cpu.SegmentedLinear(SS, (start - (ulong)(8 * size)) & mask, 8 * size, AccessKind.Write);
        for (int i = 0; i < 8; i++)
        {
            ulong v = i == 4 ? sp : Gpr[i];
            _cpu.WriteVirtual(SS, (start - (ulong)((i + 1) * size)) & mask, size, v);
        }
        _cpu.SetStackPointer(start - (ulong)(8 * size));
    }

    public void Popa(ref Instruction ins)
    {
        int size = ins.Mnemonic == Mnemonic.Popad ? 4 : 2;
        ulong mask = StackMask;
        ulong start = Gpr[4] & mask;
        Span<ulong> values = stackalloc ulong[8];
        for (int i = 0; i < 8; i++) values[7 - i] = _cpu.ReadVirtual(SS, (start + (ulong)(i * size)) & mask, size);
        for (int i = 0; i < 8; i++)
            if (i != 4) _cpu.WriteGprSized(i, size, values[i]);
        _cpu.SetStackPointer(start + (ulong)(8 * size));
    }

    public void Pushf(ref Instruction ins)
    {
        _cpu.CheckVm86Iopl();
        int size = -ins.StackPointerIncrement;
        _cpu.Push(_cpu.GetRflags() & ~(Rf | Vm), size);
    }

    public void Popf(ref Instruction ins)
    {
        _cpu.CheckVm86Iopl();
        int size = ins.StackPointerIncrement;
        ulong v = _cpu.PeekStack(0, size);
        ulong old = _cpu.GetRflags();
        ulong changeable = Cf | Pf | Af | Zf | Sf | Tf | Df | Of | Nt | Ac | Id;
        ref CpuState s = ref _cpu.State;
        if (!s.ProtectedMode || s.Cpl == 0) changeable |= Iopl | If;
        else if (s.Cpl <= _cpu.IoPrivilegeLevel) changeable |= If;
        if (size == 2) changeable &= 0xFFFF;
        _cpu.SetRflags((old & ~changeable) | (v & changeable));
        _cpu.SetStackPointer(Gpr[4] + (ulong)size);
        _cpu.EndBlock(); // IF or TF may have changed
        if ((old & Tf) != 0 && (v & Tf) == 0) _cpu.NoteTrapFlagClearedByLoad();
    }

    private static int OperandSizeFromCode(Code code, Code word, Code dword) =>
        code == word ? 2 : code == dword ? 4 : 8;

    public void Enter(ref Instruction ins)
    {
        int size = OperandSizeFromCode(ins.Code, Code.Enterw_imm16_imm8, Code.Enterd_imm16_imm8);
        ulong allocation = ins.Immediate16;
        int level = ins.Immediate8_2nd & 31;
        ulong mask = StackMask;
        ulong oldSp = Gpr[4], oldBp = Gpr[5];
        try
        {
            _cpu.Push(Gpr[5], size);
            ulong frame = Gpr[4] & mask;
            if (level > 0)
            {
                ulong bp = Gpr[5];
                for (int i = 1; i < level; i++)
                {
                    bp = (bp - (ulong)size) & mask;
                    _cpu.Push(_cpu.ReadVirtual(SS, bp, size), size);
                }
                _cpu.Push(frame, size);
            }
            ulong newSp = ((Gpr[4] & mask) - allocation) & mask;
            // The final stack pointer must be writable, as hardware checks.
            _cpu.SegmentedLinear(SS, newSp, 1, AccessKind.Write);
            _cpu.WriteGprSized(5, size, frame);
            _cpu.SetStackPointer(newSp);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            Gpr[5] = oldBp;
            throw;
        }
    }

    public void Leave(ref Instruction ins)
    {
        int size = OperandSizeFromCode(ins.Code, Code.Leavew, Code.Leaved);
        ulong bp = Gpr[5] & StackMask;
        ulong v = _cpu.ReadVirtual(SS, bp, size);
        _cpu.SetStackPointer(bp + (ulong)size);
        _cpu.WriteGprSized(5, size, v);
    }
}
