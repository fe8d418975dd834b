using Vessel.Devices.Pci;

namespace Vessel.Devices.Tests.Pci;

public sealed class MsixTableTests
{
    private const int MsixControl = 2;

    private static PciTestFunction Programmed()
    {
        var function = new PciTestFunction();
        for (int v = 0; v < 4; v++)
        {
            function.WriteBar(0, (ulong)(v * 16), 4, 0xFEE0_0000);
            function.WriteBar(0, (ulong)(v * 16 + 4), 4, 0);
            function.WriteBar(0, (ulong)(v * 16 + 8), 4, 0x40u + (uint)v);
        }
        return function;
    }

    private static void SetControl(PciTestFunction function, ushort control)
    {
        function.Config.Write(function.Msix.CapabilityOffset + MsixControl, 2, control);
        function.ConfigWritten(function.Msix.CapabilityOffset + MsixControl, 2);
    }

    [Fact]
    public void CapabilityDescribesTableSizeAndWhereTableAndPbaLive()
    {
        var function = new PciTestFunction(vectors: 5);
        int cap = function.Msix.CapabilityOffset;
        Assert.Equal(MsixTable.CapabilityId, function.Config.Read8(cap));
        Assert.Equal(4, function.Config.Read16(cap + 2) & 0x7FF);
        Assert.Equal(0x0u, function.Config.Read32(cap + 4)); // table at offset 0 of BAR 0
        Assert.Equal(0x800u, function.Config.Read32(cap + 8)); // PBA at 0x800 of BAR 0
        function.Config.Write(cap + 2, 2, 0xFFFF);
        Assert.Equal(0xC004, function.Config.Read16(cap + 2)); // only enable and function mask are writable
    }

    [Fact]
    public void EntriesStartMaskedSoAVectorPendsUntilUnmasked()
    {
        var function = Programmed();
        SetControl(function, 0x8000);
        Assert.Equal(1UL, function.ReadBar(0, 12, 4) & 1);

        function.Msix.Notify(2);
        Assert.Empty(function.Messages);
        Assert.True(function.Msix.IsPending(2));
        Assert.Equal(1UL << 2, function.ReadBar(0, 0x800, 8));

        function.WriteBar(0, 2 * 16 + 12, 4, 0); // unmask vector 2
        Assert.Equal([(0xFEE0_0000UL, 0x42u)], function.Messages);
        Assert.False(function.Msix.IsPending(2));
        Assert.Equal(0UL, function.ReadBar(0, 0x800, 8));
    }

    [Fact]
    public void UnmaskedVectorSendsAtOnce()
    {
        var function = Programmed();
        SetControl(function, 0x8000);
        function.WriteBar(0, 1 * 16 + 12, 4, 0);
        function.Msix.Notify(1);
        function.Msix.Notify(1);
        Assert.Equal([(0xFEE0_0000UL, 0x41u), (0xFEE0_0000UL, 0x41u)], function.Messages);
    }

    [Fact]
    public void FunctionMaskHoldsEveryVectorAndClearingItDeliversThePending()
    {
        var function = Programmed();
        for (int v = 0; v < 4; v++) function.WriteBar(0, (ulong)(v * 16 + 12), 4, 0);
        SetControl(function, 0xC000);
        function.Msix.Notify(0);
        function.Msix.Notify(3);
        Assert.Empty(function.Messages);
        Assert.Equal(0b1001UL, function.ReadBar(0, 0x800, 8));

        SetControl(function, 0x8000);
        Assert.Equal([(0xFEE0_0000UL, 0x40u), (0xFEE0_0000UL, 0x43u)], function.Messages);
        Assert.Equal(0UL, function.ReadBar(0, 0x800, 8));
    }

    [Fact]
    public void PbaIsReadOnlyAndOddAccessesAreHarmless()
    {
        var function = Programmed();
        function.Msix.Notify(1);
        function.WriteBar(0, 0x800, 8, 0);
        Assert.True(function.Msix.IsPending(1));
        function.WriteBar(0, 3, 4, 0xFFFF_FFFF);    // unaligned
        function.WriteBar(0, 0x7F8, 8, ulong.MaxValue); // beyond the table
        function.Msix.Notify(99);                   // no such vector
        Assert.Equal(0UL, function.ReadBar(0, 1, 2));
        Assert.Equal(0xFEE0_0000UL, function.ReadBar(0, 0, 8));
    }

    [Fact]
    public void EightByteTableWritesSetAddressHalves()
    {
        var function = new PciTestFunction();
        function.WriteBar(0, 0, 8, 0x0000_0001_FEE0_1000);
        Assert.Equal(0xFEE0_1000UL, function.ReadBar(0, 0, 4));
        Assert.Equal(1UL, function.ReadBar(0, 4, 4));
    }
}
