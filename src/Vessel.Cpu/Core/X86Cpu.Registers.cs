using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

internal sealed partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong ReadGpr(Register reg)
    {
        int r = (int)reg;
        ulong v = Gpr[RegisterTable.GprIndex[r]];
        return RegisterTable.Size[r] switch
        {
            8 => v,
            4 => (uint)v,
            2 => (ushort)v,
            _ => RegisterTable.IsHigh8[r] ? (byte)(v >> 8) : (byte)v,
        };
    }

    /// <summary>Writes with x86-64 semantics: 32-bit writes zero the upper half, 8/16-bit writes merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteGpr(Register reg, ulong value)
    {
        int r = (int)reg;
        ref ulong slot = ref Gpr[RegisterTable.GprIndex[r]];
        switch (RegisterTable.Size[r])
        {
            case 8: slot = value; break;
            case 4: slot = (uint)value; break;
            case 2: slot = (slot & ~0xFFFFUL) | (ushort)value; break;
            default:
                if (RegisterTable.IsHigh8[r]) slot = (slot & ~0xFF00UL) | ((ulong)(byte)value << 8);
                else slot = (slot & ~0xFFUL) | (byte)value;
                break;
        }
    }

    /// <summary>Writes the low <paramref name="size"/> bytes of general register <paramref name="index"/>.</summary>
    internal void WriteGprSized(int index, int size, ulong value)
    {
        ref ulong slot = ref Gpr[index];
        switch (size)
        {
            case 8: slot = value; break;
            case 4: slot = (uint)value; break;
            case 2: slot = (slot & ~0xFFFFUL) | (ushort)value; break;
            default: slot = (slot & ~0xFFUL) | (byte)value; break;
        }
    }
}
