using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>A raw boot sector (or a larger flat real-mode image that starts with one): loaded at 0x7C00 and
/// entered as a BIOS would, in real mode at 0000:7C00 with DL = 0x80 (first hard disk) and SP = 0x7C00.</summary>
internal static class BootSectorLoader
{
    public const ulong LoadAddress = PcLayout.BootSectorAddress;
    public const ulong MaxEnd = PcLayout.LowRamEnd;
    public const byte BootDrive = 0x80;

    public static BootSetup Load(ReadOnlySpan<byte> image, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        BootOptionChecks.RequireNone(options, "boot sector");
        ulong end = LoadAddress + (ulong)image.Length;
        if (end > MaxEnd)
            throw new BootImageException($"boot sector image of {image.Length} bytes does not fit between 0x7c00 and 0x{MaxEnd:x}");
        if (!map.IsRamRange(LoadAddress, end))
            throw new BootImageException($"boot sector destination 0x{LoadAddress:x}-0x{end:x} is not in RAM");
        GuestWrites.Write(memory, LoadAddress, image);

        var regs = new Registers { Rip = LoadAddress, Rsp = LoadAddress, Rdx = BootDrive, Rflags = RflagsBits.Reserved1 };
        return new BootSetup(KernelImageFormat.BootSector, regs, SpecialRegisters.RealMode(0),
            $"boot sector, {image.Length} bytes, real mode at 0000:7c00");
    }
}
