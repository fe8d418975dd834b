using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Near JMP CALL RET, LOOPcc and JrCXZ. Jcc is the dispatcher's (<see cref="X86Cpu"/>); far transfers
/// live with the system instructions, which the far forms of JMP and CALL are handed to.</summary>
internal sealed class NearBranchUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

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

    private static ulong TruncateToOperandSize(ulong target, int size) => size switch
    {
        2 => (ushort)target, 4 => (uint)target, _ => target,
    };

    public void Jmp(ref Instruction ins)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16: case OpKind.NearBranch32: case OpKind.NearBranch64:
                _cpu.JumpNear(ins.NearBranchTarget);
                return;
            case OpKind.Register:
            case OpKind.Memory when !ins.IsJmpFarIndirect:
            {
                int size = OperandSize(ref ins, 0);
                _cpu.JumpNear(TruncateToOperandSize(_cpu.ReadOperand(ref ins, 0, size), size));
                return;
            }
        }
        if (!_cpu.ExecuteSystem(ref ins)) _cpu.FaultNoCode(Vector.UD);
    }

    public void Call(ref Instruction ins)
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
                target = TruncateToOperandSize(_cpu.ReadOperand(ref ins, 0, size), size);
                break;
            default:
                if (!_cpu.ExecuteSystem(ref ins)) _cpu.FaultNoCode(Vector.UD);
                return;
        }
        ref CpuState s = ref _cpu.State;
        ulong oldSp = s.Gpr[4];
        _cpu.Push(s.Rip, size);
        try
        {
            _cpu.JumpNear(target);
        }
        catch (CpuFault)
        {
            s.Gpr[4] = oldSp;
            throw;
        }
    }

    public void Ret(ref Instruction ins)
    {
        int size = ins.Code switch
        {
            Code.Retnw or Code.Retnw_imm16 => 2,
            Code.Retnd or Code.Retnd_imm16 => 4,
            _ => 8,
        };
        ulong target = _cpu.PeekStack(0, size);
        _cpu.JumpNear(target);
        ulong release = ins.OpCount > 0 ? ins.Immediate16 : 0UL;
        _cpu.SetStackPointer(_cpu.State.Gpr[4] + (ulong)size + release);
    }

    public void Loop(ref Instruction ins)
    {
        int counterSize = LoopCounterSize.GetValueOrDefault(ins.Code, 8);
        ulong mask = X86Cpu.SizeMask(counterSize);
        ref GprFile gpr = ref _cpu.State.Gpr;
        bool take;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
                take = (gpr[1] & mask) == 0;
                break;
            default:
            {
                ulong c = (gpr[1] - 1) & mask;
                _cpu.WriteGprSized(1, counterSize, c);
                take = c != 0;
                if (ins.Mnemonic == Mnemonic.Loope) take &= _cpu.GetZf();
                else if (ins.Mnemonic == Mnemonic.Loopne) take &= !_cpu.GetZf();
                break;
            }
        }
        if (take) _cpu.JumpNear(ins.NearBranchTarget);
    }
}
