using Vessel.Hypervisor;
using Vessel.Boot.Setup;

namespace Vessel.Boot.Tests;

/// <summary>Checks shared by every 32-bit protected-mode entry.</summary>
internal static class ProtectedModeAssert
{
    public static void IsFlatProtectedMode(BootSetup setup, GuestRam ram)
    {
        var s = setup.SpecialRegisters;
        Assert.Equal(BootGdt.Code32Selector, s.Cs.Selector);
        Assert.Equal(0xBu, s.Cs.Type); // execute/read, accessed
        Assert.True(s.Cs.DefaultBig && s.Cs.Granularity && s.Cs.Present && s.Cs.CodeOrData && !s.Cs.Long);
        Assert.Equal(0UL, s.Cs.Base);
        Assert.Equal(0xFFFF_FFFFu, s.Cs.Limit);
        foreach (var d in new[] { s.Ds, s.Es, s.Fs, s.Gs, s.Ss })
        {
            Assert.Equal(BootGdt.DataSelector, d.Selector);
            Assert.Equal(0x3u, d.Type);
            Assert.True(d.DefaultBig && d.Granularity && d.Present && d.CodeOrData);
            Assert.Equal(0xFFFF_FFFFu, d.Limit);
            Assert.Equal(0UL, d.Base);
        }
        Assert.Equal(ControlRegisters.Cr0Pe, s.Cr0 & ControlRegisters.Cr0Pe);
        Assert.Equal(0UL, s.Cr0 & ControlRegisters.Cr0Pg);
        Assert.Equal(0UL, s.Efer);
        Assert.Equal(RflagsBits.Reserved1, setup.Registers.Rflags); // IF = 0
        GdtIsInMemory(s, ram);
        StackIsInLowMemory(setup);
    }

    public static void GdtIsInMemory(SpecialRegisters s, GuestRam ram)
    {
        Assert.InRange(s.Gdt.Base, 0x500UL, 0x9FFFFUL);
        Assert.True(s.Gdt.Limit >= BootGdt.TssSelector + 15);
        Assert.Equal(0UL, ram.Memory.ReadUInt64(s.Gdt.Base));
        Assert.Equal(0x00CF9B000000FFFFUL, ram.Memory.ReadUInt64(s.Gdt.Base + BootGdt.Code32Selector));
        Assert.Equal(0x00CF93000000FFFFUL, ram.Memory.ReadUInt64(s.Gdt.Base + BootGdt.DataSelector));
        Assert.Equal(0x00AF9B000000FFFFUL, ram.Memory.ReadUInt64(s.Gdt.Base + BootGdt.Code64Selector));

        Assert.Equal(BootGdt.TssSelector, s.Tr.Selector);
        Assert.Equal(0xBu, s.Tr.Type); // busy TSS
        Assert.True(s.Tr.Present && !s.Tr.CodeOrData && !s.Tr.Unusable);
        Assert.Equal((uint)BootGdt.TssSize - 1, s.Tr.Limit);
        ulong tss = ram.Memory.ReadUInt64(s.Gdt.Base + BootGdt.TssSelector);
        Assert.Equal(BootGdt.Descriptor((uint)s.Tr.Base, BootGdt.TssSize - 1, 0x8B, 0), tss);
        Assert.Equal(0UL, ram.Memory.ReadUInt64(s.Gdt.Base + BootGdt.TssSelector + 8));
        Assert.Equal(new byte[0x60], ram.Read(s.Tr.Base, 0x60));
        Assert.InRange(s.Tr.Base, 0x500UL, 0x9FFFFUL);
    }

    public static void StackIsInLowMemory(BootSetup setup)
    {
        Assert.InRange(setup.Registers.Rsp, 0x500UL + 4096, 0xA0000UL);
        Assert.Equal(0UL, setup.Registers.Rsp % 16);
    }
}
