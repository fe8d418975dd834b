namespace Vessel.Hypervisor;

/// <summary>The PC machine Vessel builds, named once: where RAM, the MMIO hole and the platform's MMIO live, the
/// port and IRQ of every legacy device, and where the loaders put what they build below 1 MiB. Loaders, the VMM's
/// device registration, the emu platform and the MP table read it; devices themselves see only offsets.</summary>
public static class PcLayout
{
    // Guest-physical memory.
    public const ulong OneMiB = 1UL << 20;
    /// <summary>Loaders' own structures (GDT, page tables, boot information) go in RAM above the real-mode
    /// interrupt vectors and BIOS data area and below <see cref="LowRamEnd"/>.</summary>
    public const ulong LowScratchStart = 0x500;
    /// <summary>Base memory ends at 640 KiB less the EBDA's last KiB: RAM is [0, this), the rest up to 1 MiB
    /// (EBDA, VGA, BIOS) is reserved.</summary>
    public const ulong LowRamEnd = 0x9FC00;
    /// <summary>A boot sector is loaded and entered here, as a BIOS does.</summary>
    public const ulong BootSectorAddress = 0x7C00;
    /// <summary>The top of conventional memory (640 KiB): the VGA window starts here.</summary>
    public const ulong ConventionalMemoryEnd = 0xA0000;
    /// <summary>The MP floating pointer and configuration table: the last KiB of base memory, which Linux scans.</summary>
    public const ulong MpTableAddress = LowRamEnd;
    /// <summary>The page of BIOS ROM the legacy-firmware shim fills (interrupt handlers real-mode kernels call).</summary>
    public const ulong LegacyRomBase = 0xFF000;
    /// <summary>The 32-bit MMIO hole spans [3 GiB, 4 GiB): RAM beyond 3 GiB continues at 4 GiB.</summary>
    public const ulong MmioHoleStart = 3UL << 30;
    public const ulong HighMemoryStart = 4UL << 30;
    /// <summary>PCI memory BARs are assigned from the start of the MMIO hole up to the I/O APIC.</summary>
    public const ulong PciWindowBase = MmioHoleStart, PciWindowEnd = IoApicBase;
    public const ulong IoApicBase = 0xFEC0_0000;
    /// <summary>Where every local APIC's page starts after reset (each vCPU may move its own).</summary>
    public const ulong LocalApicBase = 0xFEE0_0000;
    /// <summary>MSI writes land in [0xFEE00000, 0xFEF00000): the 1 MiB above the local APIC base.</summary>
    public const ulong MsiWindowBase = LocalApicBase, MsiWindowLength = OneMiB;
    /// <summary>What KVM needs on Intel for real mode (a TSS of three pages and the identity-map page), placed
    /// just below the BIOS area at the top of 4 GiB, where nothing else lives.</summary>
    public const ulong KvmTssAddress = 0xFFFB_D000, KvmIdentityMapAddress = 0xFFFB_C000;

    // Port I/O and ISA IRQs.
    public const ushort PicMasterPort = 0x20, PicSlavePort = 0xA0, PicElcrPort = 0x4D0;
    public const ushort PitPort = 0x40, SystemControlPortB = 0x61;
    public const ushort I8042DataPort = 0x60, I8042CommandPort = 0x64;
    public const int I8042KeyboardIrq = 1, I8042AuxIrq = 12;
    /// <summary>CMOS RTC: index at 0x70, data at 0x71.</summary>
    public const ushort CmosPort = 0x70;
    public const int CmosIrq = 8;
    public const ushort PostCodePort = 0x80;
    /// <summary>isa-debug-exit, four ports wide as kvm-unit-tests configures it (iosize=4), so outl works.</summary>
    public const ushort DebugExitPort = 0xF4;
    public const ushort Com1Port = 0x3F8, Com2Port = 0x2F8;
    public const int Com1Irq = 4, Com2Irq = 3;
    /// <summary>fw_cfg legacy I/O: selector at 0x510 (16-bit), data at 0x511 (8-bit).</summary>
    public const ushort FwCfgPort = 0x510;
    /// <summary>PCI configuration mechanism #1: address at 0xCF8, data at 0xCFC.</summary>
    public const ushort PciConfigPort = 0xCF8;

    // QEMU's pc-testdev, which kvm-unit-tests drive.
    public const ushort PcTestDevIoPort = 0xE0, PcTestDevFlushPagePort = 0xE4, PcTestDevIoPortBytePort = 0xE8;
    public const ushort PcTestDevIrqLinePort = 0x2000;
    public const ulong PcTestDevIoMemBase = 0xFF00_0000;
}
