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
    /// <summary>Operand size in bytes (4 or 8).</summary>
    public byte Size;
    public ulong Immediate;
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
}

internal enum AluOperation : byte { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test }

internal enum ShiftOperation : byte { Shl, Shr, Sar }
