using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Tests;

public class ElfLoaderTests
{
    [Fact]
    public void Elf32IsLoadedAndEnteredInProtectedModeWithZeroEaxEbx()
    {
        using var ram = new GuestRam();
        ram.Memory.Fill(0x200000, 0x3000, 0xCC);
        var elf = new ElfBuilder(false) { Entry = 0x100010 }
            .Add(0x100000, TestImages.Code(0x100))
            .Add(0x200000, TestImages.Code(0x80, seed: 2), memorySize: 0x2000)
            .Add(0, [1, 2, 3], type: 4); // PT_NOTE: not loaded
        var setup = ram.Load(elf.Build());

        Assert.Equal(TestImages.Code(0x100), ram.Read(0x100000, 0x100));
        Assert.Equal(TestImages.Code(0x80, seed: 2), ram.Read(0x200000, 0x80));
        Assert.Equal(new byte[0x2000 - 0x80], ram.Read(0x200080, 0x2000 - 0x80));
        Assert.Equal(0xCC, ram.Memory.ReadByte(0x202000));
        Assert.Equal(0x100010UL, setup.Registers.Rip);
        Assert.Equal(0UL, setup.Registers.Rax);
        Assert.Equal(0UL, setup.Registers.Rbx);
        Assert.Equal(KernelImageFormat.Elf32, setup.Format);
        Assert.Equal("ELF32, entry 0x100010, 32-bit protected mode", setup.Description);
        ProtectedModeAssert.IsFlatProtectedMode(setup, ram);
    }

    [Fact]
    public void Elf64IsEnteredInLongModeOnIdentityMappedPageTables()
    {
        using var ram = new GuestRam(32 << 20);
        var elf = new ElfBuilder(true) { Entry = 0xFFFFFFFF81000040 }
            .Add(0x1000000, TestImages.Code(0x1000), virtualAddress: 0xFFFFFFFF81000000);
        var setup = ram.Load(elf.Build());
        var s = setup.SpecialRegisters;

        Assert.Equal(0x1000040UL, setup.Registers.Rip);
        Assert.Equal(KernelImageFormat.Elf64, setup.Format);
        Assert.Equal(BootGdt.Code64Selector, s.Cs.Selector);
        Assert.True(s.Cs.Long && !s.Cs.DefaultBig && s.Cs.Present && s.Cs.CodeOrData);
        Assert.Equal(0xBu, s.Cs.Type);
        Assert.Equal(BootGdt.DataSelector, s.Ss.Selector);
        Assert.Equal(ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Et | ControlRegisters.Cr0Ne, s.Cr0);
        Assert.Equal(ControlRegisters.Cr4Pae, s.Cr4);
        Assert.Equal(ControlRegisters.EferLme | ControlRegisters.EferLma, s.Efer);
        Assert.Equal(RflagsBits.Reserved1, setup.Registers.Rflags);
        ProtectedModeAssert.GdtIsInMemory(s, ram);
        ProtectedModeAssert.StackIsInLowMemory(setup);

        Assert.Equal(0UL, s.Cr3 % 4096);
        Assert.InRange(s.Cr3, 0x1000UL, 0x9A000UL);
        ulong pml4e = ram.Memory.ReadUInt64(s.Cr3);
        Assert.Equal(3UL, pml4e & 0xFFF);
        Assert.Equal(0UL, ram.Memory.ReadUInt64(s.Cr3 + 8));
        ulong pdpt = pml4e & ~0xFFFUL;
        for (ulong gib = 0; gib < 4; gib++)
        {
            ulong pdpte = ram.Memory.ReadUInt64(pdpt + gib * 8);
            Assert.Equal(3UL, pdpte & 0xFFF);
            ulong directory = pdpte & ~0xFFFUL;
            for (ulong e = 0; e < 512; e += 73)
                Assert.Equal((gib << 30) | (e << 21) | 0x83, ram.Memory.ReadUInt64(directory + e * 8));
            Assert.Equal((gib << 30) | (511UL << 21) | 0x83, ram.Memory.ReadUInt64(directory + 511 * 8));
        }
        Assert.Equal(0UL, ram.Memory.ReadUInt64(pdpt + 4 * 8));

        var tables = new PhysicalRange(s.Cr3, s.Cr3 + 6 * 4096);
        Assert.False(tables.Overlaps(new PhysicalRange(s.Gdt.Base, s.Gdt.Base + s.Gdt.Limit + 1u)));
        Assert.False(tables.Overlaps(new PhysicalRange(s.Tr.Base, s.Tr.Base + BootGdt.TssSize)));
        Assert.False(tables.Overlaps(new PhysicalRange(setup.Registers.Rsp - 8192, setup.Registers.Rsp)));
    }

    [Fact]
    public void Elf64EntryAboveTheIdentityMapIsRefused()
    {
        using var ram = new GuestRam();
        byte[] image = new ElfBuilder(true) { Entry = 0x1_0000_0000 }.Add(0x100000, TestImages.Code(16)).Build();
        Assert.Equal("ELF64 entry point 0x100000000 is not in RAM below 4 GiB",
            Assert.Throws<BootImageException>(() => ram.Load(image)).Message);
    }

    [Fact]
    public void Elf64SegmentThatWrapsTheAddressSpaceIsRefused()
    {
        using var ram = new GuestRam();
        byte[] image = new ElfBuilder(true) { Entry = 0x100000 }.Add(0xFFFF_FFFF_FFFF_F000, TestImages.Code(16), memorySize: 0x2000).Build();
        Assert.Equal("ELF segment at 0xfffffffffffff000 (0x2000 bytes) wraps past the top of the address space",
            Assert.Throws<BootImageException>(() => ram.Load(image)).Message);
    }

    [Fact]
    public void CommandLineAndInitrdAreRefusedBecauseBareElfCannotReceiveThem()
    {
        using var ram = new GuestRam();
        byte[] image = new ElfBuilder(true) { Entry = 0x100000 }.Add(0x100000, TestImages.Code(16)).Build();
        Assert.Equal("a ELF64 kernel cannot receive a command line",
            Assert.Throws<BootImageException>(() => ram.Load(image, new BootOptions { CommandLine = "quiet" })).Message);
        Assert.Equal("a ELF64 kernel cannot receive an initrd or modules",
            Assert.Throws<BootImageException>(() => ram.Load(image, new BootOptions { Initrd = new byte[1] })).Message);
    }
}
