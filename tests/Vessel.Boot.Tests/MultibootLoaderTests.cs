using System.Text;

namespace Vessel.Boot.Tests;

public class MultibootLoaderTests
{
    private const uint BootloaderMagic = 0x2BADB002;

    [Fact]
    public void ElfKernelIsLoadedAtItsPhysicalAddressWithItsBssZeroed()
    {
        using var ram = new GuestRam();
        ram.Memory.Fill(0x100000, 0x4000, 0xCC);
        byte[] image = TestImages.MultibootElf(0x100000, bss: 0x2000);

        var setup = ram.Load(image);

        byte[] text = [.. TestImages.MultibootHeader(), .. TestImages.Code(0x200)];
        Assert.Equal(text, ram.Read(0x100000, text.Length));
        Assert.Equal(new byte[0x2000], ram.Read(0x100000 + (ulong)text.Length, 0x2000));
        Assert.Equal(0xCC, ram.Memory.ReadByte(0x100000 + (ulong)text.Length + 0x2000));
        Assert.Equal(KernelImageFormat.Multiboot, setup.Format);
        Assert.Equal("multiboot ELF32, entry 0x10000c", setup.Description);
    }

    [Fact]
    public void EntryStateIsTheMultibootMachineState()
    {
        using var ram = new GuestRam();
        var setup = ram.Load(TestImages.MultibootElf(0x100000));

        Assert.Equal(BootloaderMagic, setup.Registers.Rax);
        Assert.Equal(0x10000CUL, setup.Registers.Rip);
        Assert.InRange(setup.Registers.Rbx, 0x500UL, 0x9FC00UL);
        ProtectedModeAssert.IsFlatProtectedMode(setup, ram);
    }

    [Fact]
    public void InformationStructureDescribesMemoryCommandLineAndMemoryMap()
    {
        using var ram = new GuestRam(16 << 20);
        var setup = ram.Load(TestImages.MultibootElf(), new BootOptions { CommandLine = "console=ttyS0 -- x86/apic" });
        var info = new MultibootInfo(ram, setup.Registers.Rbx);

        Assert.Equal(1u | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9, info.Flags);
        Assert.Equal(639u, info.MemLower);
        Assert.Equal(15u * 1024, info.MemUpper);
        Assert.Equal("console=ttyS0 -- x86/apic", info.CommandLine);
        Assert.Equal("Vessel", info.LoaderName);
        Assert.Equal(0u, info.ModsCount);
        Assert.Equal(72u, info.MmapLength);
        Assert.Equal(
            [(20u, 0UL, 0x9FC00UL, 1u), (20u, 0x9FC00UL, 0x60400UL, 2u), (20u, 0x100000UL, 15UL << 20, 1u)],
            info.MemoryMap());
    }

    [Fact]
    public void InitrdBecomesModuleZeroPageAlignedAfterTheKernel()
    {
        using var ram = new GuestRam();
        byte[] initrd = Encoding.ASCII.GetBytes("TESTNAME=apic\nOTHER=1\n");
        var setup = ram.Load(TestImages.MultibootElf(0x400000, bss: 0x1234), new BootOptions { Initrd = initrd });
        var info = new MultibootInfo(ram, setup.Registers.Rbx);

        Assert.Equal(1u, info.ModsCount);
        var (start, end, name) = info.Module(0);
        ulong kernelEnd = 0x400000UL + 12 + 0x200 + 0x1234;
        Assert.Equal((kernelEnd + 0xFFF) & ~0xFFFUL, start);
        Assert.Equal(start + (uint)initrd.Length, end);
        Assert.Equal(initrd, ram.Read(start, initrd.Length));
        Assert.Equal("initrd", name);
        Assert.EndsWith(", 1 module", setup.Description);
    }

    [Fact]
    public void ModulesFollowTheInitrdInOrderEachOnItsOwnPages()
    {
        using var ram = new GuestRam();
        var options = new BootOptions
        {
            Initrd = TestImages.Code(5000, seed: 9),
            Modules = [new BootModule(TestImages.Code(10, seed: 11), "first arg"), new BootModule(TestImages.Code(4096, seed: 13))],
        };
        var setup = ram.Load(TestImages.MultibootElf(), options);
        var info = new MultibootInfo(ram, setup.Registers.Rbx);

        Assert.Equal(3u, info.ModsCount);
        var modules = Enumerable.Range(0, 3).Select(info.Module).ToList();
        Assert.Equal(["initrd", "first arg", ""], modules.Select(m => m.CommandLine));
        Assert.All(modules, m => Assert.Equal(0u, m.Start % 4096));
        Assert.Equal(modules[0].Start + 8192, modules[1].Start);
        Assert.Equal(modules[1].Start + 4096, modules[2].Start);
        Assert.Equal(TestImages.Code(10, seed: 11), ram.Read(modules[1].Start, 10));
        Assert.Equal(TestImages.Code(4096, seed: 13), ram.Read(modules[2].Start, 4096));
        Assert.Equal(modules[2].Start + 4096, modules[2].End);
    }

    [Fact]
    public void ModuleThatDoesNotFitBelowTheBiosHoleGoesAboveOneMiB()
    {
        using var ram = new GuestRam();
        var setup = ram.Load(TestImages.MultibootElf(0x4000, bss: 0), new BootOptions { Initrd = new byte[0x100000] });
        var (start, _, _) = new MultibootInfo(ram, setup.Registers.Rbx).Module(0);
        Assert.Equal(0x100000u, start);
    }

    [Fact]
    public void BootDataAvoidsAKernelLinkedInLowMemory()
    {
        // kvm-unit-tests' realmode.flat is linked at 16 KiB.
        using var ram = new GuestRam();
        byte[] image = TestImages.MultibootElf(0x4000, bss: 0x10000);
        var kernel = new PhysicalRange(0x4000, 0x4000 + 12 + 0x200 + 0x10000);
        var setup = ram.Load(image, new BootOptions { CommandLine = new string('x', 4000) });
        var info = new MultibootInfo(ram, setup.Registers.Rbx);

        var s = setup.SpecialRegisters;
        PhysicalRange[] bootData =
        [
            new(s.Gdt.Base, s.Gdt.Base + s.Gdt.Limit + 1u), new(s.Tr.Base, s.Tr.Base + s.Tr.Limit + 1u),
            new(setup.Registers.Rbx, setup.Registers.Rbx + 116), new(info.MmapAddr, info.MmapAddr + info.MmapLength),
            new(setup.Registers.Rsp - 8192, setup.Registers.Rsp),
        ];
        Assert.All(bootData, d => Assert.False(d.Overlaps(kernel), $"{d} overlaps the kernel"));
        Assert.Equal(new string('x', 4000), info.CommandLine);
        Assert.Equal(TestImages.Code(0x200), ram.Read(0x4000 + 12, 0x200));
    }

    [Fact]
    public void VirtualEntryIsTranslatedToItsPhysicalAddress()
    {
        using var ram = new GuestRam();
        byte[] text = [.. TestImages.MultibootHeader(), .. TestImages.Code(64)];
        byte[] image = new ElfBuilder(false) { Entry = 0xC0100010 }.Add(0x100000, text, virtualAddress: 0xC0100000).Build();
        Assert.Equal(0x100010UL, ram.Load(image).Registers.Rip);
        Assert.Equal(text, ram.Read(0x100000, text.Length));
    }

    [Fact]
    public void AoutKludgeLoadsTheFileAtLoadAddrAndZeroesTheBss()
    {
        using var ram = new GuestRam();
        ram.Memory.Fill(0x200000, 0x2000, 0xCC);
        byte[] image = TestImages.AoutKludge(0x200000, codeLength: 0x300, bss: 0x1000);

        var setup = ram.Load(image);

        Assert.Equal(image, ram.Read(0x200000, image.Length));
        Assert.Equal(new byte[0x1000], ram.Read(0x200000 + (ulong)image.Length, 0x1000));
        Assert.Equal(0x200020UL, setup.Registers.Rip);
        Assert.Equal(BootloaderMagic, setup.Registers.Rax);
        Assert.Equal("multiboot a.out kludge, entry 0x200020", setup.Description);
        ProtectedModeAssert.IsFlatProtectedMode(setup, ram);
    }

    [Fact]
    public void AoutKludgeHonoursAHeaderInsideTheFileAndLoadEndAddr()
    {
        using var ram = new GuestRam();
        var image = new byte[0x400];
        TestImages.Code(0x40, seed: 7).CopyTo(image, 0);
        // header at file offset 0x40 says it sits at 0x300040, so the file's first byte goes to 0x300000;
        // only 0x100 bytes are loaded, the rest up to 0x300200 is bss.
        TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x300040, loadAddr: 0x300000,
            loadEndAddr: 0x300100, bssEndAddr: 0x300200, entryAddr: 0x300000).CopyTo(image, 0x40);
        image.AsSpan(0x100).Fill(0xEE);
        ram.Memory.Fill(0x300000, 0x400, 0xCC);

        var setup = ram.Load(image);

        Assert.Equal(image[..0x100], ram.Read(0x300000, 0x100));
        Assert.Equal(new byte[0x100], ram.Read(0x300100, 0x100));
        Assert.Equal(0xCC, ram.Memory.ReadByte(0x300200));
        Assert.Equal(0x300000UL, setup.Registers.Rip);
    }

    [Fact]
    public void AoutKludgeWinsOverElfProgramHeaders()
    {
        using var ram = new GuestRam();
        var elf = new ElfBuilder(false) { Entry = 0x100000 }.Add(0x100000, new byte[0x100]);
        byte[] image = elf.Build();
        int headerOffset = elf.DataOffset(0);
        TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x500000 + (uint)headerOffset,
            loadAddr: 0x500000, entryAddr: 0x500000 + (uint)headerOffset).CopyTo(image, headerOffset);

        var setup = ram.Load(image);

        Assert.Equal(image, ram.Read(0x500000, image.Length));
        Assert.Equal(0x500000UL + (uint)headerOffset, setup.Registers.Rip);
    }

    [Fact]
    public void LoadsIntoMemorySplitAcrossSeveralSlots()
    {
        using var ram = new GuestRam(16 << 20, splitAt: 0x101000);
        byte[] image = TestImages.MultibootElf(0x100000, bss: 0x3000);
        ram.Memory.Fill(0x101000, 0x3000, 0xCC);

        ram.Load(image);

        Assert.Equal(TestImages.Code(0x200), ram.Read(0x10000C, 0x200));
        Assert.Equal(new byte[0x2000], ram.Read(0x101000, 0x2000));
        Assert.Equal(0xCC, ram.Memory.ReadByte(0x10320C));
    }
}

public class MultibootImageNameTests
{
    [Fact]
    public void TheImageNameLeadsTheCommandLineAsGrubAndQemuPassIt()
    {
        using var ram = new GuestRam();
        var setup = ram.Load(TestImages.MultibootElf(), new BootOptions { CommandLine = "cpuid", ImageName = "x86/vmexit.flat" });
        ulong info = setup.Registers.Rbx;
        Assert.Equal("x86/vmexit.flat cpuid", ram.ReadCString(ram.Memory.ReadUInt32(info + 16)));
    }
}
