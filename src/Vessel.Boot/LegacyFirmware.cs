using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>What a PC BIOS leaves behind for the kernels that expect one (boot sectors, multiboot kernels):
/// an interrupt vector table whose every vector returns, hardware-interrupt handlers that acknowledge the
/// 8259s, and the 8259s and 8254 programmed as SeaBIOS leaves them under QEMU: vector bases 08h/70h, only the
/// timer and the cascade unmasked, channel 0 in mode 3 at 18.2 Hz. A guest that halts with interrupts on in
/// real mode is woken by the timer, as on a PC.
/// <para>The programming is a few instructions the bootstrap vCPU runs before the kernel's entry, so the
/// interrupt controllers of either backend see the port writes a BIOS makes; only AL is used, and EAX is
/// restored before the jump.</para></summary>
public static class LegacyFirmware
{
    /// <summary>The last page below 1 MiB (F000:F000), in the reserved BIOS area of the PC memory map.</summary>
    public const ulong RomBase = PcLayout.LegacyRomBase;
    private const ushort RomSegment = 0xF000;
    private const ushort RomOffset = (ushort)(RomBase - RomSegment * 16UL);

    // Offsets in the ROM page of: IRET; the master-IRQ handler (EOI to the master); the slave-IRQ handler
    // (EOI to both); the device programming that runs before the kernel.
    private const int IretStub = 0, MasterIrqStub = 1, SlaveIrqStub = 8, ProgramDevices = 32;

    public const byte MasterVectorBase = 0x08, SlaveVectorBase = 0x70;

    /// <summary>Port writes of the BIOS's device set-up, in order (port, value).</summary>
    public static readonly (byte Port, byte Value)[] DeviceProgramming =
    [
        (0x20, 0x11), (0xA0, 0x11),                       // ICW1: edge, cascade, ICW4 follows
        (0x21, MasterVectorBase), (0xA1, SlaveVectorBase), // ICW2: vector bases
        (0x21, 0x04), (0xA1, 0x02),                       // ICW3: slave on IR2, slave id 2
        (0x21, 0x01), (0xA1, 0x01),                       // ICW4: 8086 mode
        (0x21, 0xFA), (0xA1, 0xFF),                       // OCW1: only IRQ 0 and the cascade unmasked
        (0x43, 0x36), (0x40, 0x00), (0x40, 0x00),         // PIT channel 0: mode 3, count 65536 (18.2 Hz)
    ];

    /// <summary>Whether <paramref name="setup"/> is for a kernel that expects a BIOS to have run.</summary>
    public static bool Applies(BootSetup setup) =>
        setup.Format is KernelImageFormat.BootSector or KernelImageFormat.Multiboot;

    /// <summary>Writes the vector table and the ROM stubs, and returns <paramref name="setup"/> entered through
    /// the device programming, which then jumps to the kernel's entry with its registers intact.</summary>
    public static BootSetup Install(GuestMemory memory, BootSetup setup)
    {
        SpecialRegisters sregs = setup.SpecialRegisters;
        bool realMode = (sregs.Cr0 & ControlRegisters.Cr0Pe) == 0;
        bool flat32 = !realMode && sregs.Cs.DefaultBig && !sregs.Cs.Long && sregs.Cs.Base == 0;
        if (!realMode && !flat32)
            throw new ArgumentException("the legacy firmware enters real-mode or flat 32-bit kernels only", nameof(setup));

        WriteVectorTable(memory);
        var rom = new List<byte>();
        rom.Add(0xCF);                                                        // iret
        rom.AddRange([0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF]);             // push ax; mov al,20h; out 20h,al; pop ax; iret
        rom.AddRange([0x50, 0xB0, 0x20, 0xE6, 0xA0, 0xE6, 0x20, 0x58, 0xCF]); // ... out 0A0h,al; out 20h,al ...
        while (rom.Count < ProgramDevices) rom.Add(0xCC);
        foreach (var (port, value) in DeviceProgramming)
            rom.AddRange([0xB0, value, 0xE6, port]);                    // mov al, value; out port, al

        Registers regs = setup.Registers;
        uint eax = (uint)regs.Rax;
        if (realMode)
        {
            rom.AddRange([0x66, 0xB8]);                                 // mov eax, imm32
            rom.AddRange(BitConverter.GetBytes(eax));
            rom.Add(0xEA);                                              // jmp far seg:off
            rom.AddRange(BitConverter.GetBytes((ushort)regs.Rip));
            rom.AddRange(BitConverter.GetBytes(sregs.Cs.Selector));
            regs.Rip = RomOffset + ProgramDevices;
            sregs.Cs = Segment.RealMode(RomSegment, code: true);
        }
        else
        {
            rom.Add(0xB8);                                              // mov eax, imm32
            rom.AddRange(BitConverter.GetBytes(eax));
            ulong jumpEnd = RomBase + (ulong)rom.Count + 5;
            rom.Add(0xE9);                                              // jmp rel32
            rom.AddRange(BitConverter.GetBytes((uint)(regs.Rip - jumpEnd)));
            regs.Rip = RomBase + ProgramDevices;
        }
        memory.Write(RomBase, rom.ToArray());
        return setup with { Registers = regs, SpecialRegisters = sregs };
    }

    private static void WriteVectorTable(GuestMemory memory)
    {
        var ivt = new byte[256 * 4];
        for (int vector = 0; vector < 256; vector++)
        {
            int stub = vector is >= MasterVectorBase and < MasterVectorBase + 8 ? MasterIrqStub
                : vector is >= SlaveVectorBase and < SlaveVectorBase + 8 ? SlaveIrqStub
                : IretStub;
            BitConverter.TryWriteBytes(ivt.AsSpan(vector * 4), (ushort)(RomOffset + stub));
            BitConverter.TryWriteBytes(ivt.AsSpan(vector * 4 + 2), RomSegment);
        }
        memory.Write(0, ivt);
    }
}
