using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class SystemSegmentTests
{
    private const ulong Handler = 0x30000;

    [Fact]
    public void IoBitmapAllowsOnePortAndRefusesTheNext()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.AllowPort(0x80);
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
        Recorders.Handler32(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(al, 0x42);
            a.@out(0x80, al);
            a.@out(0x81, al);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        VcpuExit io = Assert.Single(g.Guest.Exits);
        Assert.Equal((ushort)0x80, io.Port);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0u, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 2 + 2, g.ReadU32(Recorders.SavedIp));
    }

    [Fact]
    public void WordAccessNeedsEveryPortBitClear()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.AllowPort(0x87); // 0x87 open, 0x88 (the next bitmap byte) closed
        g.SetGate64(13, SegmentedGuest.KernelCode64, Handler);
        Recorders.Handler64(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(dx, 0x87);
            a.@in(al, dx);
            a.@in(ax, dx);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode64, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Single(g.Guest.Exits);
        Assert.Equal(13UL, g.ReadU64(Recorders.Vector) & 0xFF);
        Assert.Equal(SegmentedGuest.CodeBase + 4 + 1, g.ReadU64(Recorders.SavedIp));
    }

    [Fact]
    public void IoplAtOrAboveCplSkipsTheBitmap()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.@out(0x81, al);
            a.@int(3);
        });
        g.SetGate32(3, SegmentedGuest.KernelCode32, Handler, dpl: 3);
        Recorders.Handler32(g, Handler, 3, hasErrorCode: false);
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack,
            rflags: 0x3002);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Single(g.Guest.Exits);
        Assert.Equal(3u, g.ReadU32(Recorders.Vector));
    }

    [Fact]
    public void LtrLoadsTrAndMarksTheTssBusyAndStrReadsIt()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(ax, SegmentedGuest.TssSelector);
            a.ltr(ax);
            a.mov(rbx, -1L);
            a.str(ebx);
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var s = g.SpecialRegisters;
        s.Tr = new Segment { Unusable = true };
        g.Guest.Vcpu.SetSpecialRegisters(s);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0xBUL, (g.GetGdt(SegmentedGuest.TssSelector >> 3) >> 40) & 0xF);
        Assert.Equal(SegmentedGuest.TssBase, g.SpecialRegisters.Tr.Base);
        Assert.Equal((ulong)SegmentedGuest.TssSelector, g.Registers.Rbx);
    }

    /// <summary>In long mode LTR and LLDT refuse a 16-byte descriptor whose 64-bit base is not canonical
    /// (kvm-unit-tests' la57 checks it through the GDT).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LtrAndLldtOfANonCanonicalBaseAreGeneralProtection(bool ldt)
    {
        using var g = new SegmentedGuest(longMode: true);
        const int ldtIndex = 14;
        ushort selector = ldt ? (ushort)(ldtIndex << 3) : SegmentedGuest.TssSelector;
        if (ldt) g.SetGdt(ldtIndex, SegmentedGuest.Descriptor(0x4000, 0xF, 0x2, system: true));
        g.SetGdt((selector >> 3) + 1, 0x0000_8000);                  // base bits 32-63: 0x8000_xxxx_xxxx
        g.SetGate64(13, SegmentedGuest.KernelCode64, Handler);
        Recorders.Handler64(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(ax, selector);
            if (ldt) a.lldt(ax); else a.ltr(ax);
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)selector, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void LtrOfABusyTssIsGeneralProtection()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGdt(SegmentedGuest.TssSelector >> 3, g.GetGdt(SegmentedGuest.TssSelector >> 3) | (2UL << 40));
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
        Recorders.Handler32(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, SegmentedGuest.TssSelector);
            a.ltr(ax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.TssSelector, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void LldtMakesLdtSelectorsUsable()
    {
        using var g = new SegmentedGuest(longMode: false);
        const ulong ldt = 0x4000;
        g.SetGdt(14, SegmentedGuest.Descriptor(ldt, 0xF, 0x2, system: true));
        g.WriteU64(ldt + 8, SegmentedGuest.Descriptor(0x50000, 0xFFFF, 0x2, big: true));
        g.WriteU32(0x50004, 0xABCD);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 14 << 3);
            a.lldt(ax);
            a.mov(ax, 8 | 4); // LDT entry 1
            a.mov(es, ax);
            a.mov(ebx, __dword_ptr.es[4]);
            a.sldt(ecx);
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0xABCDUL, g.Registers.Rbx);
        Assert.Equal(14UL << 3, g.Registers.Rcx);
        Assert.Equal(ldt, g.SpecialRegisters.Ldt.Base);
    }

    [Fact]
    public void LarLslVerrVerwReportThroughZf()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            void Zf(ulong slot)
            {
                a.setz(al);
                a.mov(__byte_ptr[slot], al);
            }
            a.mov(edx, SegmentedGuest.UserCode32);
            a.lar(ebx, edx);
            Zf(0x600);
            a.lsl(ecx, edx);
            Zf(0x601);
            a.mov(edx, SegmentedGuest.KernelData);
            a.lar(esi, edx);                     // DPL 0 < CPL 3: invisible
            Zf(0x602);
            a.mov(edx, SegmentedGuest.UserData);
            a.verw(dx);
            Zf(0x603);
            a.mov(edx, SegmentedGuest.UserCode32);
            a.verr(dx);                          // readable code
            Zf(0x604);
            a.verw(dx);                          // code is never writable
            Zf(0x605);
            a.mov(edx, 0x200);                   // beyond the GDT
            a.lsl(edi, edx);
            Zf(0x606);
            a.@int(3);
        });
        g.SetGate32(3, SegmentedGuest.KernelCode32, Handler, dpl: 3);
        Recorders.Handler32(g, Handler, 3, hasErrorCode: false);
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        var flags = g.Memory.GetSpan(0x600, 7).ToArray();
        Assert.Equal(new byte[] { 1, 1, 0, 1, 1, 0, 0 }, flags);
        // Access rights: type A, S, DPL 3, P in bits 8-15; D and G in 20-23 (the limit's bits 16-19 are masked).
        Assert.Equal(0x00C0_FA00UL, g.Registers.Rbx);
        Assert.Equal(0xFFFF_FFFFUL, g.Registers.Rcx);
    }

    [Fact]
    public void ArplRaisesTheRequestedPrivilege()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 0x10);
            a.mov(bx, 0x2B);
            a.arpl(ax, bx);
            a.setz(cl);
            a.arpl(ax, bx);
            a.setz(ch);
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x13UL, g.Registers.Rax & 0xFFFF);
        Assert.Equal(0x0001UL, g.Registers.Rcx & 0xFFFF);
    }
}
