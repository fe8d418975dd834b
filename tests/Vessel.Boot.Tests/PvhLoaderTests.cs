using System.Buffers.Binary;
using System.Text;
using Vessel.Hypervisor;

namespace Vessel.Boot.Tests;

public class PvhLoaderTests
{
    private const ulong KernelAt = 0x1000000, EntryAt = 0x1000850;

    private static byte[] Note(string name, uint type, byte[] desc) => TestImages.ElfNote(name, type, desc);

    private static byte[] PvhKernel(byte[]? entryDesc = null)
    {
        var entry = entryDesc ?? BitConverter.GetBytes(EntryAt); // 8 bytes, as Linux's _ASM_PTR writes it
        byte[] notes = [.. Note("Xen", 6, "linux\0"u8.ToArray()), .. Note("GNU", 18, new byte[4]), .. Note("Xen", 18, entry)];
        return new ElfBuilder(true) { Entry = 0xFFFFFFFF81000000 }
            .Add(KernelAt, TestImages.Code(0x1000), memorySize: 0x3000, virtualAddress: 0xFFFFFFFF81000000)
            .Add(0, notes, type: 4)
            .Build();
    }

    [Fact]
    public void PvhNoteSelectsThePvhEntryInFlatProtectedModeWithStartInfoInEbx()
    {
        using var ram = new GuestRam(64 << 20);
        byte[] initrd = TestImages.Code(0x2345, seed: 9);
        var setup = ram.Load(PvhKernel(), new BootOptions { CommandLine = "console=ttyS0 nokaslr", Initrd = initrd });

        Assert.Equal(EntryAt, setup.Registers.Rip);
        Assert.Equal(0UL, setup.SpecialRegisters.Cr0 & ControlRegisters.Cr0Pg);
        Assert.Equal(0UL, setup.SpecialRegisters.Efer);
        ProtectedModeAssert.IsFlatProtectedMode(setup, ram);
        Assert.Equal(TestImages.Code(0x1000), ram.Read(KernelAt, 0x1000));

        ulong info = setup.Registers.Rbx;
        Assert.Equal(0x336ec578u, ram.Memory.ReadUInt32(info));
        Assert.Equal(1u, ram.Memory.ReadUInt32(info + 4));
        Assert.Equal("console=ttyS0 nokaslr", ram.ReadCString(ram.Memory.ReadUInt64(info + 24)));

        Assert.Equal(1u, ram.Memory.ReadUInt32(info + 12));
        ulong module = ram.Memory.ReadUInt64(info + 16);
        ulong initrdAt = ram.Memory.ReadUInt64(module);
        Assert.Equal((ulong)initrd.Length, ram.Memory.ReadUInt64(module + 8));
        Assert.True(initrdAt >= KernelAt + 0x3000 && initrdAt % 4096 == 0);
        Assert.Equal(initrd, ram.Read(initrdAt, initrd.Length));

        ulong memmap = ram.Memory.ReadUInt64(info + 40);
        uint count = ram.Memory.ReadUInt32(info + 48);
        Assert.Equal(ram.Map.Entries.Count, (int)count);
        for (int i = 0; i < count; i++)
        {
            ulong e = memmap + (ulong)i * 24;
            Assert.Equal(ram.Map.Entries[i].Start, ram.Memory.ReadUInt64(e));
            Assert.Equal(ram.Map.Entries[i].Length, ram.Memory.ReadUInt64(e + 8));
            Assert.Equal((uint)ram.Map.Entries[i].Type, ram.Memory.ReadUInt32(e + 16));
        }
        Assert.Contains("PVH entry 0x1000850", setup.Description);
    }

    [Fact]
    public void FourByteEntryNoteIsAccepted()
    {
        using var ram = new GuestRam(64 << 20);
        var setup = ram.Load(PvhKernel(BitConverter.GetBytes((uint)EntryAt)));
        Assert.Equal(EntryAt, setup.Registers.Rip);
    }

    [Fact]
    public void AnEntryNoteOfAnotherSizeIsRefused()
    {
        using var ram = new GuestRam(64 << 20);
        var ex = Assert.Throws<BootImageException>(() => ram.Load(PvhKernel([1, 2])));
        Assert.Contains("PVH entry note", ex.Message);
    }

    [Fact]
    public void ANoteRunningPastItsSegmentIsRefused()
    {
        var note = Note("Xen", 18, BitConverter.GetBytes(EntryAt));
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(4), 4096); // descriptor longer than the segment
        var image = new ElfBuilder(true) { Entry = KernelAt }.Add(KernelAt, TestImages.Code(0x100)).Add(0, note, type: 4).Build();
        using var ram = new GuestRam(64 << 20);
        Assert.Contains("note", Assert.Throws<BootImageException>(() => ram.Load(image)).Message);
    }

    [Fact]
    public void AnEntryOutsideRamIsRefused()
    {
        using var ram = new GuestRam(64 << 20);
        var ex = Assert.Throws<BootImageException>(() => ram.Load(PvhKernel(BitConverter.GetBytes(0x8000_0000UL))));
        Assert.Contains("not in RAM", ex.Message);
    }

    [Fact]
    public void AnInitrdLargerThanRamIsRefused()
    {
        using var ram = new GuestRam(32 << 20);
        var ex = Assert.Throws<BootImageException>(() => ram.Load(PvhKernel(), new BootOptions { Initrd = new byte[24 << 20] }));
        Assert.Contains("initrd", ex.Message);
    }
}
