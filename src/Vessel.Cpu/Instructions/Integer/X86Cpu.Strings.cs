using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE in every address size.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Iterations one execution of a REP instruction may run before the run loop gets to look at
    /// interrupts and kicks; the instruction then resumes where it stopped.</summary>
    private const int RepIterationBudget = 4096;

    private enum StringOp { Movs, Cmps, Stos, Lods, Scas, Ins, Outs }

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

    private void ExecuteString(ref Instruction ins)
    {
        var (op, size) = ClassifyString(ins.Mnemonic);
        int addressSize = StringAddressSize(ref ins);
        ulong amask = SizeMask(addressSize);
        bool rep = ins.HasRepPrefix || ins.HasRepnePrefix;
        bool conditional = op is StringOp.Cmps or StringOp.Scas;
        bool repne = ins.HasRepnePrefix;
        int sourceSeg = op is StringOp.Movs or StringOp.Cmps or StringOp.Lods or StringOp.Outs
            ? SegmentIndex(ins.MemorySegment) : DS;
        ulong step = DirectionFlag ? (ulong)(-size) : (ulong)size;
        if (op is StringOp.Ins or StringOp.Outs) CheckIoPermission((ushort)Gpr[2], size);

        int budget = RepIterationBudget;
        bool bulk = rep && (op is StringOp.Movs or StringOp.Stos) && BulkStringsEnabled;
        while (true)
        {
            if (rep && (Gpr[1] & amask) == 0) return;
            if (bulk)
            {
                int done = TryBulkString(op == StringOp.Movs, size, sourceSeg, addressSize, budget);
                if (done > 0)
                {
                    _replayCount = _replayNext = 0;
                    if ((Gpr[1] & amask) == 0) return;
                    budget -= done;
                    if (_hasPendingExit || budget == 0) { ResumeStringLater(); return; }
                    continue;
                }
            }
            ulong si = Gpr[6] & amask, di = Gpr[7] & amask;
            switch (op)
            {
                case StringOp.Movs:
                {
                    ulong v = ReadVirtual(sourceSeg, si, size);
                    WriteVirtual(ES, di, size, v);
                    WriteGprSized(6, addressSize, si + step);
                    WriteGprSized(7, addressSize, di + step);
                    break;
                }
                case StringOp.Cmps:
                {
                    ulong a = ReadVirtual(sourceSeg, si, size);
                    ulong b = ReadVirtual(ES, di, size);
                    SetLazy(FlagOp.Sub, size, a, b, a - b);
                    WriteGprSized(6, addressSize, si + step);
                    WriteGprSized(7, addressSize, di + step);
                    break;
                }
                case StringOp.Stos:
                    WriteVirtual(ES, di, size, Gpr[0]);
                    WriteGprSized(7, addressSize, di + step);
                    break;
                case StringOp.Lods:
                    WriteGprSized(0, size, ReadVirtual(sourceSeg, si, size));
                    WriteGprSized(6, addressSize, si + step);
                    break;
                case StringOp.Scas:
                {
                    ulong a = Gpr[0] & SizeMask(size);
                    ulong b = ReadVirtual(ES, di, size);
                    SetLazy(FlagOp.Sub, size, a, b, a - b);
                    WriteGprSized(7, addressSize, di + step);
                    break;
                }
                case StringOp.Ins:
                {
                    // Check the destination before the port is read, so a fault does not lose input.
                    SegmentedLinear(ES, di, size, AccessKind.Write);
                    ulong v = PortRead((ushort)Gpr[2], size);
                    WriteVirtual(ES, di, size, v);
                    WriteGprSized(7, addressSize, di + step);
                    break;
                }
                default:
                {
                    ulong v = ReadVirtual(sourceSeg, si, size);
                    PortWrite((ushort)Gpr[2], size, v);
                    WriteGprSized(6, addressSize, si + step);
                    break;
                }
            }
            if (!rep) return;
            _replayCount = _replayNext = 0; // an iteration is done: a resumed instruction starts after it
            ulong count = (Gpr[1] - 1) & amask;
            WriteGprSized(1, addressSize, count);
            if (conditional && (repne ? GetZf() : !GetZf())) return;
            if (count == 0) return;
            if (_hasPendingExit || --budget == 0)
            {
                ResumeStringLater();
                return;
            }
        }
    }

    /// <summary>Resume this instruction after the exit or after the run loop has had a look around.</summary>
    private void ResumeStringLater()
    {
        Rip = _instructionStart;
        _endBlock = true;
    }

    private void ExecuteIn(ref Instruction ins)
    {
        int size = RegisterTable.Size[(int)ins.Op0Register];
        ushort port = ins.Op1Kind == OpKind.Register ? (ushort)Gpr[2] : ins.Immediate8;
        CheckIoPermission(port, size);
        WriteGpr(ins.Op0Register, PortRead(port, size));
    }

    private void ExecuteOut(ref Instruction ins)
    {
        int size = RegisterTable.Size[(int)ins.Op1Register];
        ushort port = ins.Op0Kind == OpKind.Register ? (ushort)Gpr[2] : ins.Immediate8;
        CheckIoPermission(port, size);
        PortWrite(port, size, ReadGpr(ins.Op1Register));
    }
}
