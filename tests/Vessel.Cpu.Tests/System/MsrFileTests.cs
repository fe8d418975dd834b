namespace Vessel.Cpu.Tests.System;

/// <summary>The MSR file on its own: the TSC and TSC_ADJUST move together, RESET restores the power-on values
/// but not the counter, and what is not this file's is refused.</summary>
public class MsrFileTests
{
    [Fact]
    public void WritingTheTscMovesTscAdjustByTheSameAmount()
    {
        var msrs = new MsrFile(new Vessel.Cpu.Platform.GuestClock());
        Assert.True(msrs.TryWrite(MsrIndex.Tsc, 1UL << 50));
        Assert.True(msrs.TryRead(MsrIndex.TscAdjust, out ulong adjust));
        ulong tsc = msrs.ReadTsc();
        Assert.InRange(tsc, 1UL << 50, (1UL << 50) + 60_000_000_000UL); // a minute of slack on a loaded machine
        Assert.InRange((long)adjust, (1L << 50) - 60_000_000_000L, 1L << 50);

        Assert.True(msrs.TryWrite(MsrIndex.TscAdjust, adjust + 1_000_000_000_000));
        Assert.InRange(msrs.ReadTsc(), tsc + 1_000_000_000_000, tsc + 1_060_000_000_000);
    }

    [Fact]
    public void ResetRestoresPowerOnValuesButKeepsTheCounter()
    {
        var msrs = new MsrFile(new Vessel.Cpu.Platform.GuestClock());
        Assert.True(msrs.TryWrite(MsrIndex.Pat, 0x0606_0606_0606_0606));
        Assert.True(msrs.TryWrite(MsrIndex.Lstar, 0xFFFF_8000_0000_1000));
        Assert.True(msrs.TryWrite(MsrIndex.MtrrPhysBase0 + 3, 0x1234_5006));
        Assert.True(msrs.TryWrite(MsrIndex.Tsc, 1UL << 60));
        msrs.Reset();
        Assert.True(msrs.TryRead(MsrIndex.Pat, out ulong pat));
        Assert.Equal(0x0007_0406_0007_0406UL, pat);
        Assert.Equal(0UL, msrs.Lstar);
        Assert.True(msrs.TryRead(MsrIndex.MtrrPhysBase0 + 3, out ulong mtrr));
        Assert.Equal(0UL, mtrr);
        Assert.True(msrs.ReadTsc() >= 1UL << 60);
    }

    [Fact]
    public void RefusesCoreMsrsUnknownIndicesAndReservedValues()
    {
        var msrs = new MsrFile(new Vessel.Cpu.Platform.GuestClock());
        foreach (uint coreOwned in new[] { MsrIndex.Efer, MsrIndex.FsBase, MsrIndex.GsBase, MsrIndex.KernelGsBase, MsrIndex.ApicBase, MsrIndex.TscDeadline })
            Assert.False(msrs.TryRead(coreOwned, out _));
        Assert.False(msrs.TryWrite(0x1234, 0));
        Assert.False(msrs.TryWrite(MsrIndex.SysenterEip, 0x0000_8000_0000_0000)); // not canonical
        Assert.False(msrs.TryWrite(MsrIndex.TscAux, 1UL << 32));
        Assert.False(msrs.TryWrite(MsrIndex.MiscEnable, 1 << 2));                   // reserved bit
        Assert.True(msrs.TryWrite(MsrIndex.MiscEnable, 0));
        Assert.True(msrs.TryRead(MsrIndex.MiscEnable, out ulong misc));
        Assert.Equal((1UL << 7) | (1UL << 12), misc);                               // the read-only bits stay
    }
}
