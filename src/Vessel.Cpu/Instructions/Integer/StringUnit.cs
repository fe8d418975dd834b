using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE in every address size, and IN/OUT, which share
/// the I/O permission check. REP MOVS and REP STOS hand what they can to the CPU's bulk path
/// (<see cref="IIntegerCpu.TryBulkString"/>), which knows the TLBs.</summary>
internal sealed class StringUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private const int ES = X86Cpu.ES, DS = X86Cpu.DS;

    /// <summary>Iterations one execution of a REP instruction may run before the run loop gets to look at
    /// interrupts and kicks; the instruction then resumes where it stopped.</summary>
    private const int RepIterationBudget = 4096;

    private enum StringOp { Movs, Cmps, Stos, Lods, Scas, Ins, Outs }

    private readonly TCpu _cpu = cpu;

    private ref GprFile Gpr => ref _cpu.State.Gpr;

    private static int StringAddressSize(ref Instruction ins)
    {
        for (int i = 0; i < ins.OpCount; i++)
        {
            switch (ins.GetOpKind(i))
            {
                case OpKind.MemorySegSI: case OpKind.MemoryESDI: case OpKind.MemorySegDI: return 2;
                case OpKind.MemorySegESI: case OpKind.MemoryESEDI: case OpKind.MemorySegEDI: return 4;
                case OpKind.MemorySegRSI: case OpKind.MemoryESRDI: case OpKind.MemorySegRDI: return 8;
            }
        }
        return 8;
    }

    private static (StringOp op, int size) ClassifyString(Mnemonic m) => m switch
    {
        Mnemonic.Movsb => (StringOp.Movs, 1), Mnemonic.Movsw => (StringOp.Movs, 2), Mnemonic.Movsd => (StringOp.Movs, 4), Mnemonic.Movsq => (StringOp.Movs, 8),
        Mnemonic.Cmpsb => (StringOp.Cmps, 1), Mnemonic.Cmpsw => (StringOp.Cmps, 2), Mnemonic.Cmpsd => (StringOp.Cmps, 4), Mnemonic.Cmpsq => (StringOp.Cmps, 8),
        Mnemonic.Stosb => (StringOp.Stos, 1), Mnemonic.Stosw => (StringOp.Stos, 2), Mnemonic.Stosd => (StringOp.Stos, 4), Mnemonic.Stosq => (StringOp.Stos, 8),
        Mnemonic.Lodsb => (StringOp.Lods, 1), Mnemonic.Lodsw => (StringOp.Lods, 2), Mnemonic.Lodsd => (StringOp.Lods, 4), Mnemonic.Lodsq => (StringOp.Lods, 8),
        Mnemonic.Scasb => (StringOp.Scas, 1), Mnemonic.Scasw => (StringOp.Scas, 2), Mnemonic.Scasd => (StringOp.Scas, 4), Mnemonic.Scasq => (StringOp.Scas, 8),
        Mnemonic.Insb => (StringOp.Ins, 1), Mnemonic.Insw => (StringOp.Ins, 2), Mnemonic.Insd => (StringOp.Ins, 4),
        Mnemonic.Outsb => (StringOp.Outs, 1), Mnemonic.Outsw => (StringOp.Outs, 2), _ => (StringOp.Outs, 4),
    };

    public void Execute(ref Instruction ins)
    {
        var (op, size) = ClassifyString(ins.Mnemonic);
        int addressSize = StringAddressSize(ref ins);
        ulong amask = X86Cpu.SizeMask(addressSize);
        bool rep = ins.HasRepPrefix || ins.HasRepnePrefix;
        bool conditional = op is StringOp.Cmps or StringOp.Scas;
        bool repne = ins.HasRepnePrefix;
        int sourceSeg = op is StringOp.Movs or StringOp.Cmps or StringOp.Lods or StringOp.Outs
            ? SegmentIndex(ins.MemorySegment) : DS;
        ulong step = (_cpu.State.Rflags & Df) != 0 ? (ulong)(-size) : (ulong)size;
        if (op is StringOp.Ins or StringOp.Outs) _cpu.CheckIoPermission((ushort)Gpr[2], size);

        int budget = RepIterationBudget;
        bool bulk = rep && (op is StringOp.Movs or StringOp.Stos) && _cpu.BulkStringsEnabled;
        while (true)
        {
            if (rep && (Gpr[1] & amask) == 0) return;
            if (bulk)
            {
                int done = _cpu.TryBulkString(op == StringOp.Movs, size, sourceSeg, addressSize, budget);
                if (done > 0)
                {
                    _cpu.ForgetReplayedReads();
                    if ((Gpr[1] & amask) == 0) return;
                    budget -= done;
                    if (_cpu.HasPendingExit || budget == 0) { ResumeLater(); return; }
                    continue;
                }
            }
            Iterate(op, size, sourceSeg, addressSize, step, amask);
            if (!rep) return;
            _cpu.ForgetReplayedReads(); // an iteration is done: a resumed instruction starts after it
            ulong count = (Gpr[1] - 1) & amask;
            _cpu.WriteGprSized(1, addressSize, count);
            if (conditional && (repne ? _cpu.GetZf() : !_cpu.GetZf())) return;
            if (count == 0) return;
            if (_cpu.HasPendingExit || --budget == 0)
            {
                ResumeLater();
                return;
            }
        }
    }

    /// <summary>One element of the string instruction, RSI and RDI stepped; RCX is the caller's.</summary>
    private void Iterate(StringOp op, int size, int sourceSeg, int addressSize, ulong step, ulong amask)
    {
        ulong si = Gpr[6] & amask, di = Gpr[7] & amask;
        switch (op)
        {
            case StringOp.Movs:
            {
                ulong v = _cpu.ReadVirtual(sourceSeg, si, size);
                _cpu.WriteVirtual(ES, di, size, v);
                _cpu.WriteGprSized(6, addressSize, si + step);
                _cpu.WriteGprSized(7, addressSize, di + step);
                break;
            }
            case StringOp.Cmps:
            {
                ulong a = _cpu.ReadVirtual(sourceSeg, si, size);
                ulong b = _cpu.ReadVirtual(ES, di, size);
                _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, a, b, a - b);
                _cpu.WriteGprSized(6, addressSize, si + step);
                _cpu.WriteGprSized(7, addressSize, di + step);
                break;
            }
            case StringOp.Stos:
                _cpu.WriteVirtual(ES, di, size, Gpr[0]);
                _cpu.WriteGprSized(7, addressSize, di + step);
                break;
            case StringOp.Lods:
                _cpu.WriteGprSized(0, size, _cpu.ReadVirtual(sourceSeg, si, size));
                _cpu.WriteGprSized(6, addressSize, si + step);
                break;
            case StringOp.Scas:
            {
                ulong a = Gpr[0] & X86Cpu.SizeMask(size);
                ulong b = _cpu.ReadVirtual(ES, di, size);
                _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, a, b, a - b);
                _cpu.WriteGprSized(7, addressSize, di + step);
                break;
            }
            case StringOp.Ins:
            {
                // Check the destination before the port is read, so a fault does not lose input.
                _cpu.SegmentedLinear(ES, di, size, AccessKind.Write);
                ulong v = _cpu.PortRead((ushort)Gpr[2], size);
                _cpu.WriteVirtual(ES, di, size, v);
                _cpu.WriteGprSized(7, addressSize, di + step);
                break;
            }
            default:
            {
                ulong v = _cpu.ReadVirtual(sourceSeg, si, size);
                _cpu.PortWrite((ushort)Gpr[2], size, v);
                _cpu.WriteGprSized(6, addressSize, si + step);
                break;
            }
        }
    }

    /// <summary>Resume this instruction after the exit or after the run loop has had a look around.</summary>
    private void ResumeLater()
    {
        ref CpuState s = ref _cpu.State;
        s.Rip = s.InstructionStart;
        _cpu.EndBlock();
    }

    public void In(ref Instruction ins)
    {
        int size = RegisterTable.Size[(int)ins.Op0Register];
        ushort port = ins.Op1Kind == OpKind.Register ? (ushort)Gpr[2] : ins.Immediate8;
        _cpu.CheckIoPermission(port, size);
        _cpu.WriteGpr(ins.Op0Register, _cpu.PortRead(port, size));
    }

    public void Out(ref Instruction ins)
    {
        int size = RegisterTable.Size[(int)ins.Op1Register];
        ushort port = ins.Op0Kind == OpKind.Register ? (ushort)Gpr[2] : ins.Immediate8;
        _cpu.CheckIoPermission(port, size);
        _cpu.PortWrite(port, size, _cpu.ReadGpr(ins.Op1Register));
    }
}
