using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.System;

/// <summary>The segment loader on its own, over a fake CPU that is a state block and a dictionary of bytes for
/// linear memory: what each mode loads, the fault and error code each check raises, and what it writes back.</summary>
public class SegmentLoaderTests
{
    private sealed class FakeCpu : ISegmentCpu, IDescriptorTableCpu
    {
        private CpuState _state;
        public readonly Dictionary<ulong, byte> Memory = [];
        public ref CpuState State => ref _state;
        public ref DescriptorTable Gdtr => ref _state.Gdtr;
        public ref Segment Ldtr => ref _state.Ldtr;
        public bool LongModeActive => (_state.Efer & ControlRegisters.EferLma) != 0;

        public ulong ReadLinear(ulong linear, int size, bool user)
        {
            ulong value = 0;
            for (int i = 0; i < size; i++) value |= (ulong)Memory.GetValueOrDefault(linear + (ulong)i) << (8 * i);
            return value;
        }

        public void WriteLinear(ulong linear, int size, ulong value, bool user)
        {
            for (int i = 0; i < size; i++) Memory[linear + (ulong)i] = (byte)(value >> (8 * i));
        }
    }

    // GDT at 0x1000: 0x08 ring-0 data, 0x10 ring-3 data, 0x18 ring-0 data not present, 0x20 32-bit available
    // TSS at 0x5000, 0x28 ring-0 code. All flat 4 GiB with the accessed bit clear.
    private const ulong Data0 = 0x00CF_9200_0000_FFFF, Data3 = 0x00CF_F200_0000_FFFF, Data0Absent = 0x00CF_1200_0000_FFFF;
    private const ulong Tss = 0x0000_8900_5000_0067, Code0 = 0x00CF_9A00_0000_FFFF;

    private static (FakeCpu, SegmentLoader) ProtectedMode(int cpl)
    {
        var cpu = new FakeCpu();
        cpu.State.Cr0 = ControlRegisters.Cr0Pe;
        cpu.State.Cpl = cpl;
        cpu.State.Bitness = 32;
        cpu.State.Ldtr = new Segment { Unusable = true };
        cpu.Gdtr = new DescriptorTable { Base = 0x1000, Limit = 0x2F };
        ulong[] gdt = [0, Data0, Data3, Data0Absent, Tss, Code0];
        for (int i = 0; i < gdt.Length; i++) cpu.WriteLinear(0x1000 + 8 * (ulong)i, 8, gdt[i], false);
        var fault = new CpuFault();
        return (cpu, new SegmentLoader(cpu, new DescriptorTables(cpu, fault), fault));
    }

    private static CpuFault Faults(Action action) => Assert.Throws<CpuFault>(action);

    [Fact]
    public void ADataLoadChecksPrivilegeAndPresenceAndMarksTheDescriptorAccessed()
    {
        var (cpu, loader) = ProtectedMode(cpl: 3);
        CpuFault f = Faults(() => loader.Load(X86Cpu.DS, 0x0B)); // ring-0 data from ring 3
        Assert.Equal((Vector.GP, 0x08u), (f.FaultVector, f.ErrorCode));
        Assert.Equal(0x92, cpu.Memory[0x100D]); // a refused load writes nothing back

        loader.Load(X86Cpu.DS, 0x13);
        Assert.Equal(0x13, cpu.State.Seg[X86Cpu.DS].Selector);
        Assert.Equal(0xFFFF_FFFFu, cpu.State.Seg[X86Cpu.DS].Limit);
        Assert.Equal(0xF3, cpu.Memory[0x1015]);

        var (_, ring0) = ProtectedMode(cpl: 0);
        f = Faults(() => ring0.Load(X86Cpu.ES, 0x18));
        Assert.Equal((Vector.NP, 0x18u), (f.FaultVector, f.ErrorCode));
    }

    [Fact]
    public void AStackLoadNeedsRplAndDplEqualToCplAndANotPresentStackIsStackFault()
    {
        var (cpu, loader) = ProtectedMode(cpl: 0);
        CpuFault f = Faults(() => loader.Load(X86Cpu.SS, 0x13)); // ring-3 data as ring-0 stack
        Assert.Equal((Vector.GP, 0x10u), (f.FaultVector, f.ErrorCode));
        f = Faults(() => loader.Load(X86Cpu.SS, 0x18));
        Assert.Equal((Vector.SS, 0x18u), (f.FaultVector, f.ErrorCode));
        f = Faults(() => loader.Load(X86Cpu.SS, 0));
        Assert.Equal((Vector.GP, 0u), (f.FaultVector, f.ErrorCode)); // null SS outside 64-bit mode
        loader.Load(X86Cpu.SS, 0x08);
        Assert.Equal(0x08, cpu.State.Seg[X86Cpu.SS].Selector);
    }

    [Fact]
    public void RealModeChangesOnlySelectorAndBaseSoABigLimitStays()
    {
        var (cpu, loader) = ProtectedMode(cpl: 0);
        loader.Load(X86Cpu.FS, 0x08);
        cpu.State.Cr0 = 0;
        loader.Load(X86Cpu.FS, 0x1234);
        Assert.Equal(0x12340UL, cpu.State.Seg[X86Cpu.FS].Base);
        Assert.Equal(0xFFFF_FFFFu, cpu.State.Seg[X86Cpu.FS].Limit);
    }

    [Fact]
    public void AReturnToRingThreeNullsTheRingZeroDataRegistersOnly()
    {
        var (cpu, loader) = ProtectedMode(cpl: 0);
        loader.Load(X86Cpu.DS, 0x08);
        loader.Load(X86Cpu.ES, 0x13);
        cpu.State.Cpl = 3;
        loader.NullInaccessibleDataSegments();
        Assert.True(cpu.State.Seg[X86Cpu.DS].Unusable);
        Assert.Equal(0, cpu.State.Seg[X86Cpu.DS].Selector);
        Assert.Equal(0x13, cpu.State.Seg[X86Cpu.ES].Selector);
        Assert.False(cpu.State.Seg[X86Cpu.ES].Unusable);
    }

    [Fact]
    public void CodeTargetsAreCheckedAgainstCplAndRpl()
    {
        var (cpu, loader) = ProtectedMode(cpl: 3);
        CpuFault f = Faults(() => loader.ReadReturnCodeSegment(0x28, out _)); // RPL 0 below CPL 3
        Assert.Equal((Vector.GP, 0x28u), (f.FaultVector, f.ErrorCode));
        f = Faults(() => loader.ReadGateTarget(0x08, 1, out _)); // data, not code; EXT kept
        Assert.Equal((Vector.GP, 0x09u), (f.FaultVector, f.ErrorCode));
        Segment target = loader.CheckInterruptTarget(0x28, 0, requireLong: false, out int newCpl, out bool inner);
        Assert.True(inner);
        Assert.Equal(0, newCpl);
        Assert.Equal(0x28, target.Selector);
        Assert.Equal(0x9B, cpu.Memory[0x102D]);
    }

    [Fact]
    public void LtrLoadsAnAvailableTssAtRingZeroAndMarksItBusy()
    {
        var (cpu, loader) = ProtectedMode(cpl: 3);
        CpuFault f = Faults(() => loader.LoadTaskRegister(0x20));
        Assert.Equal((Vector.GP, 0u), (f.FaultVector, f.ErrorCode));

        cpu.State.Cpl = 0;
        loader.LoadTaskRegister(0x20);
        Assert.Equal(0x5000UL, cpu.State.Tr.Base);
        Assert.Equal(SystemTypeBusy32, cpu.State.Tr.Type);
        Assert.Equal(0x8B, cpu.Memory[0x1025]);
        f = Faults(() => loader.LoadTaskRegister(0x20)); // busy now: not available any more
        Assert.Equal((Vector.GP, 0x20u), (f.FaultVector, f.ErrorCode));
        f = Faults(() => loader.LoadLdtRegister(0x08)); // a data descriptor is not an LDT
        Assert.Equal((Vector.GP, 0x08u), (f.FaultVector, f.ErrorCode));
    }

    private const byte SystemTypeBusy32 = 0xB;
}
