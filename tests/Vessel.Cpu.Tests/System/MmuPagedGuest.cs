using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.System;

/// <summary>A tiny guest with page tables built by the test in guest RAM, started directly in protected or
/// long mode through SetSpecialRegisters (segment descriptors are not needed: the hidden parts are set).</summary>
internal sealed class MmuPagedGuest : IDisposable
{
    public const ulong P = 1, W = 2, U = 4, PS = 0x80, G = 0x100, NX = 1UL << 63;
    public const ulong Accessed = 0x20, Dirty = 0x40;

    public TinyGuest Guest { get; }
    private ulong _nextTable;

    public MmuPagedGuest(ulong ramBytes = 8 << 20, ulong tablesAt = 0x40_0000)
    {
        Guest = new TinyGuest(ramBytes);
        _nextTable = tablesAt;
        Root = AllocateTable();
    }

    public GuestMemory Memory => Guest.Memory;
    public IVcpu Vcpu => Guest.Vcpu;
    /// <summary>Physical address of the top-level table (PML4, or the page directory for 32-bit paging).</summary>
    public ulong Root { get; }

    public ulong AllocateTable()
    {
        ulong t = _nextTable;
        _nextTable += 0x1000;
        Memory.Write(t, new byte[0x1000]);
        return t;
    }

    public ulong ReadEntry(ulong address) => Memory.ReadUInt64(address);
    public void WriteEntry(ulong address, ulong value) => Memory.WriteUInt64(address, value);

    /// <summary>Maps <paramref name="linear"/> in 4-level paging with a page of <paramref name="pageSize"/>
    /// (4 KiB, 2 MiB or 1 GiB); <paramref name="flags"/> go on the leaf, intermediate entries get P|W|U.
    /// Returns the guest-physical address of the leaf entry.</summary>
    public ulong Map(ulong linear, ulong physical, ulong flags, ulong pageSize = 0x1000, ulong tableFlags = P | W | U)
    {
        int leafLevel = pageSize switch { 0x1000 => 1, 0x20_0000 => 2, 0x4000_0000 => 3, _ => throw new ArgumentException("page size") };
        ulong table = Root;
        for (int level = 4; ; level--)
        {
            ulong entryAddress = table + ((linear >> (12 + 9 * (level - 1))) & 0x1FF) * 8;
            if (level == leafLevel)
            {
                WriteEntry(entryAddress, physical | flags | (level > 1 ? PS : 0));
                return entryAddress;
            }
            ulong e = ReadEntry(entryAddress);
            if ((e & P) == 0)
            {
                e = AllocateTable() | tableFlags;
                WriteEntry(entryAddress, e);
            }
            table = e & 0x000F_FFFF_FFFF_F000;
        }
    }

    /// <summary>Identity-maps the first <paramref name="bytes"/> with 4 KiB supervisor pages.</summary>
    public void IdentityMap(ulong bytes, ulong flags = P | W)
    {
        for (ulong a = 0; a < bytes; a += 0x1000) Map(a, a, flags);
    }

    /// <summary>Identity-maps the first <paramref name="bytes"/> (page tables included) with 2 MiB pages.</summary>
    public void IdentityMapLarge(ulong bytes, ulong flags = P | W)
    {
        for (ulong a = 0; a < bytes; a += 0x20_0000) Map(a, a, flags, 0x20_0000);
    }

    public static SpecialRegisters LongModeRegisters(ulong cr3, int cpl = 0)
    {
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat((ushort)(cpl == 0 ? 0x8 : 0x2B), code: true, longMode: true);
        s.Cs.Dpl = (byte)cpl;
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = Segment.Flat((ushort)(cpl == 0 ? 0x10 : 0x23), code: false);
        s.Ss.Dpl = (byte)cpl;
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Et | ControlRegisters.Cr0Wp;
        s.Cr4 = ControlRegisters.Cr4Pae;
        s.Cr3 = cr3;
        s.Efer = ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe;
        return s;
    }

    /// <summary>Loads 64-bit code at <paramref name="physical"/> (assembled for <paramref name="linear"/>) and
    /// starts it in long mode at CPL 0.</summary>
    public void Start64(ulong linear, ulong physical, Action<Assembler> build, ulong rsp = 0x8000)
    {
        Guest.Load(physical, TinyGuest.Assemble(64, linear, build));
        Vcpu.SetSpecialRegisters(LongModeRegisters(Root));
        Vcpu.SetRegisters(new Registers { Rip = linear, Rflags = 2, Rsp = rsp });
    }

    public VcpuExit Run() => Guest.Run();

    public void Dispose() => Guest.Dispose();
}
