using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.System;

/// <summary>The descriptor-table reader on its own, over a fake CPU whose linear memory is a dictionary of bytes:
/// GDT and LDT lookups against their limits, the faults it raises, and the accessed and busy bits it writes.</summary>
public class DescriptorTablesTests
{
    private sealed class FakeCpu : IDescriptorTableCpu
    {
        private DescriptorTable _gdtr;
        private Segment _ldtr = new() { Unusable = true };
        public readonly Dictionary<ulong, byte> Memory = [];
        public readonly List<ulong> Writes = [];
        public ref DescriptorTable Gdtr => ref _gdtr;
        public ref Segment Ldtr => ref _ldtr;
        public bool LongModeActive { get; set; }

        public ulong ReadLinear(ulong linear, int size, bool user)
        {
            ulong value = 0;
            for (int i = 0; i < size; i++) value |= (ulong)Memory.GetValueOrDefault(linear + (ulong)i) << (8 * i);
            return value;
        }

        public void WriteLinear(ulong linear, int size, ulong value, bool user)
        {
            Writes.Add(linear);
            for (int i = 0; i < size; i++) Memory[linear + (ulong)i] = (byte)(value >> (8 * i));
        }

        public void Put(ulong linear, ulong descriptor) => WriteLinear(linear, 8, descriptor, false);
    }

    // Flat 4 GiB ring-0 code, accessed bit clear; a 32-bit available TSS at base 0x5000.
    private const ulong Code = 0x00CF_9A00_0000_FFFF, Tss = 0x0000_8900_5000_0067;

    private static (FakeCpu, DescriptorTables) Tables()
    {
        var cpu = new FakeCpu();
        cpu.Gdtr = new DescriptorTable { Base = 0x1000, Limit = 0x1F };
        return (cpu, new DescriptorTables(cpu, new CpuFault()));
    }

    [Fact]
    public void ReadsGdtAndLdtEntriesWithinTheirLimits()
    {
        var (cpu, tables) = Tables();
        cpu.Put(0x1008, Code);
        Assert.True(tables.TryRead(0x08, out SegmentDescriptor d, out ulong address));
        Assert.Equal(0x1008UL, address);
        Assert.True(d.IsCode);
        Assert.False(tables.TryRead(0x20, out _, out _));     // one past the GDT limit
        Assert.False(tables.TryRead(0x0C, out _, out _));     // TI=1 with no LDT loaded

        cpu.Ldtr = new Segment { Base = 0x2000, Limit = 0xF, Present = true };
        cpu.Put(0x2008, Code);
        Assert.True(tables.TryRead(0x0F, out _, out address)); // LDT index 1, RPL 3
        Assert.Equal(0x2008UL, address);
    }

    [Fact]
    public void OutsideLongModeTheAddressWrapsAt4GiB()
    {
        var (cpu, tables) = Tables();
        cpu.Gdtr = new DescriptorTable { Base = 0xFFFF_FFF8, Limit = 0x17 };
        Assert.True(tables.TryAddress(0x10, 8, out ulong address));
        Assert.Equal(0x8UL, address);
        cpu.LongModeActive = true;
        Assert.True(tables.TryAddress(0x10, 8, out address));
        Assert.Equal(0x1_0000_0008UL, address);
    }

    [Fact]
    public void ReadOrFaultRaisesTheNamedVectorWithTheSelector()
    {
        var (_, tables) = Tables();
        var fault = Assert.Throws<CpuFault>(() => tables.ReadOrFault(0x23, Vector.TS, 1, out _));
        Assert.Equal(Vector.TS, fault.FaultVector);
        Assert.Equal(0x21u, fault.ErrorCode); // RPL dropped, EXT kept
    }

    [Fact]
    public void LongSystemDescriptorsNeedAZeroTypeInTheirUpperHalf()
    {
        var (cpu, tables) = Tables();
        cpu.LongModeActive = true;
        cpu.Put(0x1010, Tss);
        cpu.Put(0x1018, 0xFFFF_8000);
        Assert.True(tables.TryRead(0x10, out SegmentDescriptor low, out _));
        Assert.Equal(0xFFFF_8000_0000_5000UL, tables.ReadSystem16(0x10, low, Vector.GP, 0).Base64);
        cpu.Put(0x1018, 0x0000_0900_FFFF_8000);
        Assert.Equal(Vector.GP, Assert.Throws<CpuFault>(() => tables.ReadSystem16(0x10, low, Vector.GP, 0)).FaultVector);
        Assert.Equal(Vector.NP, Assert.Throws<CpuFault>(() => tables.ReadSystem16(0x18, low, Vector.NP, 0)).FaultVector);
    }

    [Fact]
    public void WritesTheAccessedBitOnlyWhenClearAndTogglesBusy()
    {
        var (cpu, tables) = Tables();
        cpu.Put(0x1008, Code);
        cpu.Put(0x1010, Tss);
        cpu.Writes.Clear();
        Assert.True(tables.TryRead(0x08, out SegmentDescriptor code, out ulong codeAddress));
        tables.MarkAccessed(codeAddress, code);
        Assert.Equal(0x9B, cpu.Memory[0x100D]);
        Assert.True(tables.TryRead(0x08, out code, out _));
        tables.MarkAccessed(codeAddress, code);
        Assert.Single(cpu.Writes); // already accessed: a read-only GDT is not written

        Assert.True(tables.TryRead(0x10, out SegmentDescriptor tss, out ulong tssAddress));
        tables.SetBusy(tssAddress, tss, true);
        Assert.Equal(0x8B, cpu.Memory[0x1015]);
        Assert.True(tables.TryRead(0x10, out tss, out _));
        tables.SetBusy(tssAddress, tss, false);
        Assert.Equal(0x89, cpu.Memory[0x1015]);
    }
}
