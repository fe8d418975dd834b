using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;

namespace Vessel.Cpu;

/// <summary>The task-state segment as the CPU uses it without task switching: ring stacks, the interrupt
/// stack table, the I/O permission bitmap.</summary>
internal sealed partial class X86Cpu
{
    private ulong ReadTss(uint offset, int size, uint ext)
    {
        if (Tr.Unusable || (ulong)offset + (ulong)size - 1 > Tr.Limit) Fault(Vector.TS, SelectorError(Tr.Selector, ext));
        ulong linear = Tr.Base + offset;
        if (!LongModeActive) linear &= 0xFFFF_FFFF;
        return ReadLinear(linear, size, false);
    }

    /// <summary>RSP0-2 of the 64-bit TSS.</summary>
    private ulong ReadTssStackPointer64(int cpl, uint ext) => ReadTss(4 + 8 * (uint)cpl, 8, ext);

    /// <summary>IST1-7 of the 64-bit TSS.</summary>
    private ulong ReadTssInterruptStack(int ist, uint ext) => ReadTss(0x24 + 8 * (uint)(ist - 1), 8, ext);

    /// <summary>SS:ESP for ring <paramref name="cpl"/> from a 32-bit (or 16-bit) TSS.</summary>
    private void ReadTssStack32(int cpl, uint ext, out ushort ss, out ulong sp)
    {
        if (Tr.Type is SystemType.Tss16Busy or SystemType.Tss16Available)
        {
            sp = ReadTss(2 + 4 * (uint)cpl, 2, ext);
            ss = (ushort)ReadTss(4 + 4 * (uint)cpl, 2, ext);
            return;
        }
        sp = ReadTss(4 + 8 * (uint)cpl, 4, ext);
        ss = (ushort)ReadTss(8 + 8 * (uint)cpl, 2, ext);
    }

    /// <summary>IN/OUT/INS/OUTS permission: IOPL, then the TSS I/O bitmap; #GP(0) if refused.</summary>
    private void CheckIoPermission(ushort port, int size)
    {
        if (!ProtectedMode || (Cpl <= IoPrivilegeLevel && !Vm86Mode)) return; // virtual-8086 mode always asks the bitmap
        // Only a 32/64-bit TSS has a bitmap; its base is the word at 0x66.
        if (Tr.Unusable || Tr.Type is not (SystemType.Tss32Busy or SystemType.Tss32Available) || Tr.Limit < 0x67)
            Fault(Vector.GP, 0);
        ulong tssBase = LongModeActive ? Tr.Base : Tr.Base & 0xFFFF_FFFF;
        ulong bitmapBase = ReadLinear(tssBase + 0x66, 2, false);
        ulong byteOffset = bitmapBase + (ulong)(port >> 3);
        // The CPU reads two bytes so an access may span them; both must lie within the TSS limit.
        if (byteOffset + 1 > Tr.Limit) Fault(Vector.GP, 0);
        ulong linear = tssBase + byteOffset;
        if (!LongModeActive) linear &= 0xFFFF_FFFF;
        ulong bits = ReadLinear(linear, 2, false);
        ulong mask = ((1UL << size) - 1) << (port & 7);
        if ((bits & mask) != 0) Fault(Vector.GP, 0);
    }
}
