namespace Vessel.Cpu;

/// <summary>A pre-digested form of the commonest instructions (full-width register ALU, moves, branches),
/// extracted once at decode time so execution needs no operand decoding. Everything else is
/// <see cref="FastOpKind.Generic"/> and goes through the mnemonic switch.</summary>
internal struct FastOp
{
    public FastOpKind Kind;
    /// <summary>ALU operation or condition code.</summary>
    public byte Operation;
    public byte Destination;
    public byte Source;
    /// <summary>Operand size in bytes (4 or 8; 1 or 2 for the memory source of MOVZX).</summary>
    public byte Size;
    public ulong Immediate;

    // The memory operand, when there is one: segment:[base + index * 2^scale + displacement] & address mask.
    public byte MemorySegment;
    /// <summary>GPR number, or <see cref="NoRegister"/>.</summary>
    public byte MemoryBase, MemoryIndex;
    public byte MemoryScaleShift;
    public ulong Displacement;
    public ulong AddressMask;

    public const byte NoRegister = 0xFF;
}

internal enum FastOpKind : byte
{
    Generic,
    AluRegReg,
    AluRegImm,
    IncReg,
    DecReg,
    MovRegReg,
    MovRegImm,
    Jcc,
    Jmp,
    ShiftRegImm,
    Lea,
    LoadReg,
    StoreReg,
    StoreImm,
    LoadZeroExtend,
    AluRegMem,
    AluMemReg,
    AluMemImm,
    PushReg,
    PopReg,
    CallNear,
    RetNear,
    /// <summary>CMOVcc between full registers; Operation is the condition code.</summary>
    CmovRegReg,
    /// <summary>IMUL dst, src (two operands): dst = dst * src.</summary>
    ImulRegReg,
    /// <summary>IMUL dst, src, imm: dst = src * imm.</summary>
    ImulRegRegImm,
    NotReg,
    /// <summary>NOP in any encoding (multi-byte NOPs pad kernel code).</summary>
    Nop,
    /// <summary>MOVZX/MOVSX/MOVSXD between registers; Operation is the source size in bytes.</summary>
    MovzxRegReg,
    MovsxRegReg,
    /// <summary>MOVSX/MOVSXD from memory; Operation is the source size in bytes.</summary>
    LoadSignExtend,
}

internal enum AluOperation : byte { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test }

internal enum ShiftOperation : byte { Shl, Shr, Sar }
