using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;

namespace Vessel.Cpu;

/// <summary>The task-state segment as the CPU uses it without task switching: ring stacks, the interrupt
/// stack table, the I/O permission bitmap.</summary>
internal sealed class TaskStateSegment
{
    private readonly ISystemCpu _cpu;
    private readonly CpuFault _fault;

    public TaskStateSegment(ISystemCpu cpu, CpuFault fault)
    {
        _cpu = cpu;
        _fault = fault;
    }

    /// <summary>Reads the current TSS at <paramref name="offset"/>: #TS if that lies beyond TR's limit.</summary>
    public ulong Read(uint offset, int size, uint ext)
    {
        ref CpuState s = ref _cpu.State;
        if (s.Tr.Unusable || (ulong)offset + (ulong)size - 1 > s.Tr.Limit) _fault.Raise(Vector.TS, SelectorError(s.Tr.Selector, ext));
        ulong linear = s.Tr.Base + offset;
        if (!s.LongModeActive) linear &= 0xFFFF_FFFF;
        return _cpu.ReadLinear(linear, size, false);
    }

    /// <summary>RSP0-2 of the 64-bit TSS.</summary>
    public ulong StackPointer64(int cpl, uint ext) => Read(4 + 8 * (uint)cpl, 8, ext);

    /// <summary>IST1-7 of the 64-bit TSS.</summary>
    public ulong InterruptStack(int ist, uint ext) => Read(0x24 + 8 * (uint)(ist - 1), 8, ext);

    /// <summary>SS:ESP for ring <paramref name="cpl"/> from a 32-bit (or 16-bit) TSS.</summary>
    public void Stack32(int cpl, uint ext, out ushort ss, out ulong sp)
    {
        if (_cpu.State.Tr.Type is SystemType.Tss16Busy or SystemType.Tss16Available)
        {
            sp = Read(2 + 4 * (uint)cpl, 2, ext);
            ss = (ushort)Read(4 + 4 * (uint)cpl, 2, ext);
            return;
        }
        sp = Read(4 + 8 * (uint)cpl, 4, ext);
        ss = (ushort)Read(8 + 8 * (uint)cpl, 2, ext);
    }

    /// <summary>IN/OUT/INS/OUTS permission: IOPL, then the TSS I/O bitmap; #GP(0) if refused.</summary>
    public void CheckIoPermission(ushort port, int size, int ioPrivilegeLevel)
    {
        ref CpuState s = ref _cpu.State;
        if (!s.ProtectedMode || (s.Cpl <= ioPrivilegeLevel && !s.Vm86Mode)) return; // virtual-8086 mode always asks the bitmap
        ref Segment tr = ref s.Tr;
        // Only a 32/64-bit TSS has a bitmap; its base is the word at 0x66.
        if (tr.Unusable || tr.Type is not (SystemType.Tss32Busy or SystemType.Tss32Available) || tr.Limit < 0x67)
            _fault.Raise(Vector.GP, 0);
        bool longMode = s.LongModeActive;
        ulong tssBase = longMode ? tr.Base : tr.Base & 0xFFFF_FFFF;
        uint limit = tr.Limit;
        ulong bitmapBase = _cpu.ReadLinear(tssBase + 0x66, 2, false);
        ulong byteOffset = bitmapBase + (ulong)(port >> 3);
        // The CPU reads two bytes so an access may span them; both must lie within the TSS limit.
        if (byteOffset + 1 > limit) _fault.Raise(Vector.GP, 0);
        ulong linear = tssBase + byteOffset;
        if (!longMode) linear &= 0xFFFF_FFFF;
        ulong bits = _cpu.ReadLinear(linear, 2, false);
        ulong mask = ((1UL << size) - 1) << (port & 7);
        if ((bits & mask) != 0) _fault.Raise(Vector.GP, 0);
    }
}
