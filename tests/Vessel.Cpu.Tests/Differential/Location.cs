using System.Buffers.Binary;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>Where an operand lives in a case: a register (by encoding number, or AH..BH) or bytes of the window.</summary>
internal readonly record struct Location(bool IsMemory, int Register, bool HighByte, int Offset, int Bytes)
{
    public static Location Reg(int register, int bytes, bool highByte = false) => new(false, register, highByte, 0, bytes);
    public static Location Mem(int offset, int bytes) => new(true, 0, false, offset, bytes);

    private int Shift => HighByte ? 8 : 0;

    public ulong Get(CpuState s, byte[] window)
    {
        if (IsMemory)
        {
            Span<byte> b = stackalloc byte[8];
            b.Clear();
            window.AsSpan(Offset, Math.Min(Bytes, 8)).CopyTo(b);
            return BinaryPrimitives.ReadUInt64LittleEndian(b);
        }
        return (s.Gpr[Register] >> Shift) & EdgeValues.Mask(Bytes * 8);
    }

    public void Set(CpuState s, byte[] window, ulong value)
    {
        if (IsMemory)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            b[..Math.Min(Bytes, 8)].CopyTo(window.AsSpan(Offset));
            return;
        }
        ulong mask = EdgeValues.Mask(Bytes * 8) << Shift;
        s.Gpr[Register] = (s.Gpr[Register] & ~mask) | ((value << Shift) & mask);
    }
}
