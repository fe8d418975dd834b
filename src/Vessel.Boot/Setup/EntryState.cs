using Vessel.Hypervisor;

namespace Vessel.Boot.Setup;

/// <summary>The vCPU state kernels are entered with. Protected and long mode both get a real GDT and TSS in
/// guest memory and a zeroed stack in low memory (a kernel may ignore it). A20 needs nothing: the machine has
/// no A20 gate, the line is always on.</summary>
internal static class EntryState
{
    public const ulong StackSize = 8192;
    private const ulong FlagsReserved = RflagsBits.Reserved1; // IF=0: no interrupts until the kernel wants them

    /// <summary>32-bit protected mode, paging off, flat CS (0x08) and data segments (0x10), IF=0.</summary>
    public static SpecialRegisters ProtectedMode(GuestMemory memory, LowMemoryAllocator lowMemory)
    {
        var (gdtr, tr) = BootGdt.Write(memory, lowMemory);
        var s = Common(gdtr, tr, Segment.Flat(BootGdt.Code32Selector, code: true));
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et;
        return s;
    }

    /// <summary>64-bit long mode on identity-mapped page tables covering 4 GiB; CS = 0x18 (L=1), data 0x10.</summary>
    public static SpecialRegisters LongMode(GuestMemory memory, LowMemoryAllocator lowMemory)
    {
        ulong pml4 = IdentityPageTables.Write(memory, lowMemory);
        var (gdtr, tr) = BootGdt.Write(memory, lowMemory);
        var s = Common(gdtr, tr, Segment.Flat(BootGdt.Code64Selector, code: true, longMode: true));
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et | ControlRegisters.Cr0Ne | ControlRegisters.Cr0Pg;
        s.Cr3 = pml4;
        s.Cr4 = ControlRegisters.Cr4Pae;
        s.Efer = ControlRegisters.EferLme | ControlRegisters.EferLma;
        return s;
    }

    /// <summary>General registers for a protected/long-mode entry: RIP, a fresh stack, EFLAGS with only bit 1.</summary>
    public static Registers Registers(ulong entry, ulong stackTop, ulong rax = 0, ulong rbx = 0) => new()
    {
        Rip = entry, Rsp = stackTop, Rax = rax, Rbx = rbx, Rflags = FlagsReserved,
    };

    /// <summary>Allocates the entry stack; returns its top (16-byte aligned).</summary>
    public static ulong AllocateStack(LowMemoryAllocator lowMemory) => lowMemory.Allocate(StackSize, 16, "stack") + StackSize;

    private static SpecialRegisters Common(DescriptorTable gdtr, Segment tr, Segment cs)
    {
        var s = SpecialRegisters.RealMode();
        var data = Segment.Flat(BootGdt.DataSelector, code: false);
        s.Cs = cs;
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = data;
        s.Tr = tr;
        s.Gdt = gdtr;
        s.Idt = default; // no IDT: an exception before the kernel sets one up shuts the VM down visibly
        return s;
    }
}
