using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Reading and writing decoded operands: registers, immediates and memory.</summary>
internal sealed unsafe partial class X86Cpu
{
    /// <summary>Linear address of the memory operand of a read-modify-write in progress.</summary>
    private ulong _rmwLinear;

    /// <summary>Address size (2, 4 or 8) of a Memory operand.</summary>
    internal static int AddressSize(ref Instruction ins)
    {
        Register b = ins.MemoryBase;
        if (b != Register.None && b != Register.RIP && b != Register.EIP) return RegisterTable.Size[(int)b];
        if (b == Register.RIP) return 8;
        if (b == Register.EIP) return 4;
        Register x = ins.MemoryIndex;
        if (x != Register.None) return RegisterTable.Size[(int)x];
        return ins.MemoryDisplSize switch { 2 => 2, 4 => 4, 8 => 8, _ => ins.CodeSize switch { CodeSize.Code16 => 2, CodeSize.Code32 => 4, _ => 8 } };
    }

    /// <summary>Offset of a Memory operand within its segment, wrapped to the address size.</summary>
    internal ulong EffectiveAddress(ref Instruction ins)
    {
        ulong ea = ins.MemoryDisplacement64;
        Register b = ins.MemoryBase;
        if (b == Register.RIP || b == Register.EIP) return b == Register.EIP ? (uint)ea : ea;
        if (b != Register.None) ea += ReadGpr(b);
        Register x = ins.MemoryIndex;
        if (x != Register.None) ea += ReadGpr(x) * (ulong)ins.MemoryIndexScale;
        return AddressSize(ref ins) switch { 2 => (ushort)ea, 4 => (uint)ea, _ => ea };
    }

    internal ulong ReadMemoryOperand(ref Instruction ins, int size) =>
        ReadVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins), size);

    internal void WriteMemoryOperand(ref Instruction ins, int size, ulong value) =>
        WriteVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins), size, value);

    /// <summary>Reads operand <paramref name="n"/>; immediates come sign- or zero-extended as encoded.</summary>
    internal ulong ReadOperand(ref Instruction ins, int n, int size)
    {
        switch (ins.GetOpKind(n))
        {
            case OpKind.Register:
                Register r = ins.GetOpRegister(n);
                int seg = SegmentIndex(r);
                return seg >= 0 ? Seg[seg].Selector : ReadGpr(r);
            case OpKind.Memory:
                return ReadMemoryOperand(ref ins, size);
            default:
                return ins.GetImmediate(n) & SizeMask(size);
        }
    }

    internal void WriteOperand(ref Instruction ins, int n, int size, ulong value)
    {
        if (ins.GetOpKind(n) == OpKind.Register) WriteGpr(ins.GetOpRegister(n), value);
        else WriteMemoryOperand(ref ins, size, value);
    }

    /// <summary>Reads the destination of a read-modify-write, checking it is writable first: segment and
    /// page, so a #GP or #PF (a copy-on-write page, say) comes before the instruction changes any flag.</summary>
    internal ulong ReadModifyTarget(ref Instruction ins, int size)
    {
        if (ins.Op0Kind == OpKind.Register) return ReadGpr(ins.Op0Register);
        _rmwLinear = SegmentedLinear(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins), size, AccessKind.Write);
        return Locked.ReadRmw(_rmwLinear, size);
    }

    internal void WriteModifyTarget(ref Instruction ins, int size, ulong value)
    {
        if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, value);
        else Locked.WriteRmw(_rmwLinear, size, value);
    }
}
