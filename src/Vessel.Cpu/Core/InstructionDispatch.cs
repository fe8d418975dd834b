using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Executes one decoded instruction: a switch on the mnemonic into the CPU's instruction units. Static over
/// the CPU, so a call costs what it did as a method of <see cref="X86Cpu"/>; what is not an integer instruction goes
/// to the system instructions, the BCD unit and the x87/SIMD units in turn, else #UD.</summary>
internal static class InstructionDispatch
{
    /// <summary>A LOCK-prefixed instruction goes to <see cref="LockedAccess"/>, which runs it through
    /// <see cref="ExecuteUnlocked"/> atomically.</summary>
    public static void Execute(X86Cpu cpu, ref Instruction ins)
    {
        if (ins.HasLockPrefix)
        {
            cpu.Locked.Execute(ref ins);
            return;
        }
        ExecuteUnlocked(cpu, ref ins);
    }

    public static void ExecuteUnlocked(X86Cpu cpu, ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: case Mnemonic.Adc: case Mnemonic.Sub: case Mnemonic.Sbb:
            case Mnemonic.And: case Mnemonic.Or: case Mnemonic.Xor:
                cpu.Arithmetic.BinaryArithmetic(ref ins); return;
            case Mnemonic.Cmp: cpu.Arithmetic.Cmp(ref ins); return;
            case Mnemonic.Test: cpu.Arithmetic.Test(ref ins); return;
            case Mnemonic.Inc: case Mnemonic.Dec: cpu.Arithmetic.IncDec(ref ins); return;
            case Mnemonic.Neg: cpu.Arithmetic.Neg(ref ins); return;
            case Mnemonic.Not: cpu.Arithmetic.Not(ref ins); return;

            case Mnemonic.Mov: cpu.Moves.Mov(ref ins); return;
            case Mnemonic.Movzx: case Mnemonic.Movsx: case Mnemonic.Movsxd: cpu.Moves.MovExtend(ref ins); return;
            case Mnemonic.Lea: cpu.Moves.Lea(ref ins); return;
            case Mnemonic.Xchg: cpu.Moves.Xchg(ref ins); return;
            case Mnemonic.Xadd: cpu.Moves.Xadd(ref ins); return;
            case Mnemonic.Cmpxchg: cpu.Moves.Cmpxchg(ref ins); return;
            case Mnemonic.Cmpxchg8b: case Mnemonic.Cmpxchg16b: cpu.Moves.CmpxchgWide(ref ins); return;
            case Mnemonic.Bswap: cpu.Moves.Bswap(ref ins); return;
            case Mnemonic.Movbe: cpu.Moves.Movbe(ref ins); return;
            case Mnemonic.Cbw: case Mnemonic.Cwde: case Mnemonic.Cdqe:
            case Mnemonic.Cwd: case Mnemonic.Cdq: case Mnemonic.Cqo:
                cpu.Moves.SignExtendAccumulator(ref ins); return;
            case Mnemonic.Xlatb: cpu.Moves.Xlat(ref ins); return;
            case Mnemonic.Lahf: cpu.Moves.Lahf(); return;
            case Mnemonic.Salc: cpu.Moves.Salc(); return;
            case Mnemonic.Sahf: cpu.Moves.Sahf(); return;

            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar:
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
                cpu.Shifts.Shift(ref ins); return;
            case Mnemonic.Shld: case Mnemonic.Shrd: cpu.Shifts.DoubleShift(ref ins); return;
            case Mnemonic.Mul: cpu.MultiplyDivide.Mul(ref ins); return;
            case Mnemonic.Imul: cpu.MultiplyDivide.Imul(ref ins); return;
            case Mnemonic.Div: case Mnemonic.Idiv: cpu.MultiplyDivide.Div(ref ins); return;

            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc: cpu.Bits.BitTest(ref ins); return;
            case Mnemonic.Bsf: case Mnemonic.Bsr: cpu.Bits.BitScan(ref ins); return;
            case Mnemonic.Popcnt: case Mnemonic.Lzcnt: case Mnemonic.Tzcnt: cpu.Bits.BitCount(ref ins); return;

            case Mnemonic.Push: cpu.StackInstructions.Push(ref ins); return;
            case Mnemonic.Pop: cpu.StackInstructions.Pop(ref ins); return;
            case Mnemonic.Pusha: case Mnemonic.Pushad: cpu.StackInstructions.Pusha(ref ins); return;
            case Mnemonic.Popa: case Mnemonic.Popad: cpu.StackInstructions.Popa(ref ins); return;
            case Mnemonic.Pushf: case Mnemonic.Pushfd: case Mnemonic.Pushfq: cpu.StackInstructions.Pushf(ref ins); return;
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Popfq: cpu.StackInstructions.Popf(ref ins); return;
            case Mnemonic.Enter: cpu.StackInstructions.Enter(ref ins); return;
            case Mnemonic.Leave: cpu.StackInstructions.Leave(ref ins); return;

            case Mnemonic.Jmp: cpu.Branches.Jmp(ref ins); return;
            case Mnemonic.Call: cpu.Branches.Call(ref ins); return;
            case Mnemonic.Ret: cpu.Branches.Ret(ref ins); return;
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae: case Mnemonic.Je: case Mnemonic.Jne:
            case Mnemonic.Jbe: case Mnemonic.Ja: case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                if (LazyFlags.Condition(ref cpu.State, ins.ConditionCode)) cpu.TakeConditionalBranch(ins.NearBranchTarget);
                return;
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae: case Mnemonic.Sete: case Mnemonic.Setne:
            case Mnemonic.Setbe: case Mnemonic.Seta: case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                cpu.WriteOperand(ref ins, 0, 1, LazyFlags.Condition(ref cpu.State, ins.ConditionCode) ? 1UL : 0);
                return;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae: case Mnemonic.Cmove: case Mnemonic.Cmovne:
            case Mnemonic.Cmovbe: case Mnemonic.Cmova: case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
                cpu.Moves.Cmov(ref ins); return;
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne:
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
                cpu.Branches.Loop(ref ins); return;

            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsq:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsq:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd: case Mnemonic.Scasq:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                cpu.Strings.Execute(ref ins); return;
            case Mnemonic.Movsd when ins.Code == Code.Movsd_m32_m32:
            case Mnemonic.Cmpsd when ins.Code == Code.Cmpsd_m32_m32:
                cpu.Strings.Execute(ref ins); return;

            case Mnemonic.In: cpu.Strings.In(ref ins); return;
            case Mnemonic.Out: cpu.Strings.Out(ref ins); return;

            case Mnemonic.Clc: LazyFlags.SetFlag(ref cpu.State, Hypervisor.RflagsBits.Cf, false); return;
            case Mnemonic.Stc: LazyFlags.SetFlag(ref cpu.State, Hypervisor.RflagsBits.Cf, true); return;
            case Mnemonic.Cmc: LazyFlags.SetFlag(ref cpu.State, Hypervisor.RflagsBits.Cf, !LazyFlags.GetCf(ref cpu.State)); return;
            case Mnemonic.Cld: cpu.State.Rflags &= ~Hypervisor.RflagsBits.Df; return;
            case Mnemonic.Std: cpu.State.Rflags |= Hypervisor.RflagsBits.Df; return;
            case Mnemonic.Cli: cpu.ExecuteCli(); return;
            case Mnemonic.Sti: cpu.ExecuteSti(); return;
            case Mnemonic.Hlt: cpu.ExecuteHlt(); return;

            case Mnemonic.Nop: case Mnemonic.Pause: case Mnemonic.Lfence: case Mnemonic.Mfence: case Mnemonic.Sfence:
            case Mnemonic.Prefetch: case Mnemonic.Prefetchw: case Mnemonic.Prefetchnta: case Mnemonic.Prefetcht0:
            case Mnemonic.Prefetcht1: case Mnemonic.Prefetcht2: case Mnemonic.Endbr32: case Mnemonic.Endbr64:
                return;
            case Mnemonic.Clflush: case Mnemonic.Clflushopt:
                cpu.ReadMemoryOperand(ref ins, 1); // faults like a byte load, as the architecture says
                return;

            case Mnemonic.Ud0: case Mnemonic.Ud1: case Mnemonic.Ud2: case Mnemonic.INVALID:
                cpu.FaultNoCode(Vector.UD);
                return;
        }
        if (!cpu.ExecuteSystem(ref ins) && !cpu.Bcd.Execute(ref ins) && !cpu.ExecuteExtended(ref ins)) cpu.FaultNoCode(Vector.UD);
    }
}
