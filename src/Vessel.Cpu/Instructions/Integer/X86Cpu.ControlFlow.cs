using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>Near JMP CALL RET, LOOPcc and JrCXZ. Far transfers live with the system instructions.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Counter width (2, 4 or 8) of each LOOP/JCXZ encoding, taken from Iced's code names.</summary>
    private static readonly Dictionary<Code, int> LoopCounterSize = BuildLoopCounterSizes();

    private static Dictionary<Code, int> BuildLoopCounterSizes()
    {
        var map = new Dictionary<Code, int>();
        foreach (Code c in Enum.GetValues<Code>())
        {
            string n = c.ToString();
            if (!(n.StartsWith("Loop", StringComparison.Ordinal) || n.StartsWith("Jcxz", StringComparison.Ordinal)
                  || n.StartsWith("Jecxz", StringComparison.Ordinal) || n.StartsWith("Jrcxz", StringComparison.Ordinal)))
                continue;
            map[c] = n.EndsWith("_RCX", StringComparison.Ordinal) || n.StartsWith("Jrcxz", StringComparison.Ordinal) ? 8
                : n.EndsWith("_ECX", StringComparison.Ordinal) || n.StartsWith("Jecxz", StringComparison.Ordinal) ? 4 : 2;
        }
        return map;
    }

    /// <summary>Sets RIP to a near target after the CS limit (or canonical) check.</summary>
    internal void JumpNear(ulong target)
    {
        if (Bitness == 64)
        {
            if (!LinearAddress.IsCanonical(target)) Fault(Vector.GP, 0);
        }
        else if (target > Seg[CS].Limit && (Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0)
        {
            Fault(Vector.GP, 0);
        }
        Rip = target;
    }

    /// <summary>A taken Jcc: blocks run on past conditional branches (their fall-through path), so a taken
    /// one ends the block.</summary>
    private void TakeConditionalBranch(ulong target)
    {
        JumpNear(target);
        _endBlock = true;
    }

    private static ulong TruncateToOperandSize(ulong target, int size) => size switch
    {
        2 => (ushort)target, 4 => (uint)target, _ => target,
    };

    private void ExecuteJmp(ref Instruction ins)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16: case OpKind.NearBranch32: case OpKind.NearBranch64:
                JumpNear(ins.NearBranchTarget);
                return;
            case OpKind.Register:
            case OpKind.Memory when !ins.IsJmpFarIndirect:
            {
                int size = OperandSize(ref ins, 0);
                JumpNear(TruncateToOperandSize(ReadOperand(ref ins, 0, size), size));
                return;
            }
        }
        if (!ExecuteSystem(ref ins)) FaultNoCode(Vector.UD);
    }

    private void ExecuteCall(ref Instruction ins)
    {
        int size;
        ulong target;
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16: case OpKind.NearBranch32: case OpKind.NearBranch64:
                size = -ins.StackPointerIncrement;
                target = ins.NearBranchTarget;
                break;
            case OpKind.Register:
            case OpKind.Memory when !ins.IsCallFarIndirect:
                size = -ins.StackPointerIncrement;
                target = TruncateToOperandSize(ReadOperand(ref ins, 0, size), size);
                break;
            default:
                if (!ExecuteSystem(ref ins)) FaultNoCode(Vector.UD);
                return;
        }
        ulong returnAddress = Rip;
        ulong oldSp = Gpr[4];
        Push(returnAddress, size);
        try
        {
            JumpNear(target);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            throw;
        }
    }

    private void ExecuteRet(ref Instruction ins)
    {
        int size = ins.Code switch
        {
            Code.Retnw or Code.Retnw_imm16 => 2,
            Code.Retnd or Code.Retnd_imm16 => 4,
            _ => 8,
        };
        ulong target = PeekStack(0, size);
        JumpNear(target);
        ulong release = ins.OpCount > 0 ? ins.Immediate16 : 0UL;
        SetStackPointer(Gpr[4] + (ulong)size + release);
    }

    private void ExecuteLoop(ref Instruction ins)
    {
        int counterSize = LoopCounterSize.GetValueOrDefault(ins.Code, 8);
        ulong mask = SizeMask(counterSize);
        bool take;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
                take = (Gpr[1] & mask) == 0;
                break;
            default:
            {
                ulong c = (Gpr[1] - 1) & mask;
                WriteGprSized(1, counterSize, c);
                take = c != 0;
                if (ins.Mnemonic == Mnemonic.Loope) take &= GetZf();
                else if (ins.Mnemonic == Mnemonic.Loopne) take &= !GetZf();
                break;
            }
        }
        if (take) JumpNear(ins.NearBranchTarget);
    }

    private void ExecuteCli()
    {
        if ((Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0 && Cpl > IoPrivilegeLevel) Fault(Vector.GP, 0);
        _rflags &= ~If;
    }

    private void ExecuteSti()
    {
        if ((Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0 && Cpl > IoPrivilegeLevel) Fault(Vector.GP, 0);
        if ((_rflags & If) == 0)
        {
            _rflags |= If;
            _interruptShadow = true;
            _endBlock = true;
        }
    }

    private void ExecuteHlt()
    {
        if (Cpl != 0) Fault(Vector.GP, 0);
        if ((_rflags & If) == 0 && !_machine.Platform.CanWake(this))
        {
            RequestExit(Hypervisor.VcpuExit.Halt());
            return;
        }
        _halted = true;
        _endBlock = true;
    }
}
