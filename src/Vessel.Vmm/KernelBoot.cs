using Vessel.Boot;
using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>The bootstrap vCPU's first state, as the kernel loader leaves it.</summary>
public readonly record struct VcpuEntryState(Registers Registers, SpecialRegisters SpecialRegisters);

/// <summary>Loads the configured kernel (and initrd, command line) through Vessel.Boot into guest memory.
/// Throws <see cref="BootImageException"/> for an image it cannot boot.</summary>
internal static class KernelBoot
{
    public static VcpuEntryState Load(ReadOnlyMemory<byte> image, GuestMemory memory, MachineConfig config)
    {
        var map = MemoryMap.ForPc(GuestRamLayout.RoundToPages(config.MemoryBytes));
        var options = new BootOptions { CommandLine = config.CommandLine, Initrd = config.Initrd, ImageName = config.KernelName };
        BootSetup setup = KernelLoader.Load(image.Span, memory, map, options);
        if (LegacyFirmware.Applies(setup) && memory.IsRam(0, LegacyFirmware.RomBase + 0x1000))
            setup = LegacyFirmware.Install(memory, setup);
        // The MP table sits in the reserved last KiB of base memory, where no loader places anything; with it
        // Linux (acpi=off) finds every vCPU, the IOAPIC and the interrupt wiring.
        if (map.IsRamRange(0, MpTable.DefaultAddress))
            MpTable.Write(memory, config.VcpuCount);
        return new VcpuEntryState(setup.Registers, setup.SpecialRegisters);
    }
}
