using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The stack primitives every instruction unit uses; the stack instructions are <see cref="StackUnit{TCpu}"/>.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Stack address size in bytes: 8 in 64-bit mode, else SS.B.</summary>
    internal int StackAddressSize => Bitness == 64 ? 8 : Seg[SS].DefaultBig ? 4 : 2;

    private ulong StackPointer => Gpr[4] & SizeMask(StackAddressSize);

    internal void SetStackPointer(ulong value) => WriteGprSized(4, StackAddressSize, value);

    internal void Push(ulong value, int size)
    {
        ulong sp = (Gpr[4] - (ulong)size) & SizeMask(StackAddressSize);
        WriteVirtual(SS, sp, size, value);
        SetStackPointer(sp);
    }

    internal ulong Pop(int size)
    {
        ulong sp = StackPointer;
        ulong v = ReadVirtual(SS, sp, size);
        SetStackPointer(sp + (ulong)size);
        return v;
    }

    /// <summary>Reads the stack at RSP+<paramref name="offset"/> without moving RSP.</summary>
    internal ulong PeekStack(int offset, int size) =>
        ReadVirtual(SS, (Gpr[4] + (ulong)offset) & SizeMask(StackAddressSize), size);
}
