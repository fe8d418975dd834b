using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Executes one decoded instruction: a switch on the mnemonic into the instruction groups.</summary>
internal sealed partial class X86Cpu
{
    private void Execute(ref Instruction ins)
    {
        if (ins.HasLockPrefix)
        {
            Locked.Execute(ref ins);
            return;
        }
        ExecuteUnlocked(ref ins);
    }

    /// <summary>The instruction without its LOCK prefix (<see cref="LockedAccess"/> runs a locked one through it).</summary>
    internal void ExecuteUnlocked(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: case Mnemonic.Adc: case Mnemonic.Sub: case Mnemonic.Sbb:
            case Mnemonic.And: case Mnemonic.Or: case Mnemonic.Xor:
                _arithmetic.BinaryArithmetic(ref ins); return;
            case Mnemonic.Cmp: _arithmetic.Cmp(ref ins); return;
            case Mnemonic.Test: _arithmetic.Test(ref ins); return;
            case Mnemonic.Inc: case Mnemonic.Dec: _arithmetic.IncDec(ref ins); return;
            case Mnemonic.Neg: _arithmetic.Neg(ref ins); return;
            case Mnemonic.Not: _arithmetic.Not(ref ins); return;

            case Mnemonic.Mov: _moves.Mov(ref ins); return;
            case Mnemonic.Movzx: case Mnemonic.Movsx: case Mnemonic.Movsxd: _moves.MovExtend(ref ins); return;
            case Mnemonic.Lea: _moves.Lea(ref ins); return;
            case Mnemonic.Xchg: _moves.Xchg(ref ins); return;
            case Mnemonic.Xadd: _moves.Xadd(ref ins); return;
            case Mnemonic.Cmpxchg: _moves.Cmpxchg(ref ins); return;
            case Mnemonic.Cmpxchg8b: case Mnemonic.Cmpxchg16b: _moves.CmpxchgWide(ref ins); return;
            case Mnemonic.Bswap: _moves.Bswap(ref ins); return;
            case Mnemonic.Movbe: _moves.Movbe(ref ins); return;
            case Mnemonic.Cbw: case Mnemonic.Cwde: case Mnemonic.Cdqe:
            case Mnemonic.Cwd: case Mnemonic.Cdq: case Mnemonic.Cqo:
                _moves.SignExtendAccumulator(ref ins); return;
            case Mnemonic.Xlatb: _moves.Xlat(ref ins); return;
            case Mnemonic.Lahf: _moves.Lahf(); return;
            case Mnemonic.Salc: _moves.Salc(); return;
            case Mnemonic.Sahf: _moves.Sahf(); return;

            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar:
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
                _shifts.Shift(ref ins); return;
            case Mnemonic.Shld: case Mnemonic.Shrd: _shifts.DoubleShift(ref ins); return;
            case Mnemonic.Mul: _multiplyDivide.Mul(ref ins); return;
            case Mnemonic.Imul: _multiplyDivide.Imul(ref ins); return;
            case Mnemonic.Div: case Mnemonic.Idiv: _multiplyDivide.Div(ref ins); return;

            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc: _bits.BitTest(ref ins); return;
            case Mnemonic.Bsf: case Mnemonic.Bsr: _bits.BitScan(ref ins); return;
            case Mnemonic.Popcnt: case Mnemonic.Lzcnt: case Mnemonic.Tzcnt: _bits.BitCount(ref ins); return;

            case Mnemonic.Push: _stack.Push(ref ins); return;
            case Mnemonic.Pop: _stack.Pop(ref ins); return;
            case Mnemonic.Pusha: case Mnemonic.Pushad: _stack.Pusha(ref ins); return;
            case Mnemonic.Popa: case Mnemonic.Popad: _stack.Popa(ref ins); return;
            case Mnemonic.Pushf: case Mnemonic.Pushfd: case Mnemonic.Pushfq: _stack.Pushf(ref ins); return;
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Popfq: _stack.Popf(ref ins); return;
            case Mnemonic.Enter: _stack.Enter(ref ins); return;
            case Mnemonic.Leave: _stack.Leave(ref ins); return;

            case Mnemonic.Jmp: _branches.Jmp(ref ins); return;
            case Mnemonic.Call: _branches.Call(ref ins); return;
            case Mnemonic.Ret: _branches.Ret(ref ins); return;
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae: case Mnemonic.Je: case Mnemonic.Jne:
            case Mnemonic.Jbe: case Mnemonic.Ja: case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                if (LazyFlags.Condition(ref State, ins.ConditionCode)) TakeConditionalBranch(ins.NearBranchTarget);
                return;
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae: case Mnemonic.Sete: case Mnemonic.Setne:
            case Mnemonic.Setbe: case Mnemonic.Seta: case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                WriteOperand(ref ins, 0, 1, LazyFlags.Condition(ref State, ins.ConditionCode) ? 1UL : 0);
                return;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae: case Mnemonic.Cmove: case Mnemonic.Cmovne:
            case Mnemonic.Cmovbe: case Mnemonic.Cmova: case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
                _moves.Cmov(ref ins); return;
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne:
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
                _branches.Loop(ref ins); return;

            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsq:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsq:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd: case Mnemonic.Scasq:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                _strings.Execute(ref ins); return;
            case Mnemonic.Movsd when ins.Code == Code.Movsd_m32_m32:
            case Mnemonic.Cmpsd when ins.Code == Code.Cmpsd_m32_m32:
                _strings.Execute(ref ins); return;

            case Mnemonic.In: _strings.In(ref ins); return;
            case Mnemonic.Out: _strings.Out(ref ins); return;

            case Mnemonic.Clc: LazyFlags.SetFlag(ref State, Hypervisor.RflagsBits.Cf, false); return;
            case Mnemonic.Stc: LazyFlags.SetFlag(ref State, Hypervisor.RflagsBits.Cf, true); return;
            case Mnemonic.Cmc: LazyFlags.SetFlag(ref State, Hypervisor.RflagsBits.Cf, !GetCf()); return;
            case Mnemonic.Cld: _rflags &= ~Hypervisor.RflagsBits.Df; return;
            case Mnemonic.Std: _rflags |= Hypervisor.RflagsBits.Df; return;
            case Mnemonic.Cli: ExecuteCli(); return;
            case Mnemonic.Sti: ExecuteSti(); return;
            case Mnemonic.Hlt: ExecuteHlt(); return;

            case Mnemonic.Nop: case Mnemonic.Pause: case Mnemonic.Lfence: case Mnemonic.Mfence: case Mnemonic.Sfence:
            case Mnemonic.Prefetch: case Mnemonic.Prefetchw: case Mnemonic.Prefetchnta: case Mnemonic.Prefetcht0:
            case Mnemonic.Prefetcht1: case Mnemonic.Prefetcht2: case Mnemonic.Endbr32: case Mnemonic.Endbr64:
                return;
            case Mnemonic.Clflush: case Mnemonic.Clflushopt:
                ReadMemoryOperand(ref ins, 1); // faults like a byte load, as the architecture says
                return;

            case Mnemonic.Ud0: case Mnemonic.Ud1: case Mnemonic.Ud2: case Mnemonic.INVALID:
                FaultNoCode(Vector.UD);
                return;
        }
        if (!ExecuteSystem(ref ins) && !_decimal.Execute(ref ins) && !ExecuteExtended(ref ins)) FaultNoCode(Vector.UD);
    }
}
