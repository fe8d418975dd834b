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

    /// <summary>Records what the table asks of its vectors, as the VMM's kvm routes see it.</summary>
    private sealed class RecordingVectors : IMsiVectors
    {
        public List<string> Calls { get; } = [];
        public void Route(int vector, ulong address, uint data) => Calls.Add($"route {vector} {address:x}/{data:x}");
        public void Fire(int vector, ulong address, uint data) => Calls.Add($"fire {vector} {address:x}/{data:x}");
    }

    [Fact]
    public void VectorsAreRoutedWhenUnmaskedOrRewrittenAndNotWhileMasked()
    {
        var config = new PciConfigSpace(0x1AF4, 0x1042, 0x01_80_00);
        config.AddMemoryBar(0, 0x1000);
        var vectors = new RecordingVectors();
        var msix = new MsixTable(config, 4, 0, 0, 0x800, vectors);
        int control = msix.CapabilityOffset + MsixControl;

        // Programmed while masked (as Linux does): nothing routed yet.
        msix.Write(1 * 16, 4, 0xFEE0_0000);
        msix.Write(1 * 16 + 8, 4, 0x41);
        config.Write(control, 2, 0x8000);
        msix.ControlWritten();
        Assert.Empty(vectors.Calls);

        msix.Notify(1); // masked: pends
        msix.Write(1 * 16 + 12, 4, 0); // unmask: routed, then the pending raise fires
        Assert.Equal(["route 1 fee00000/41", "fire 1 fee00000/41"], vectors.Calls);

        vectors.Calls.Clear();
        msix.Write(1 * 16 + 8, 4, 0x51); // rewritten while unmasked: routed again
        msix.Write(1 * 16 + 8, 4, 0x51); // the same value: nothing changes
        msix.Notify(1);
        Assert.Equal(["route 1 fee00000/51", "fire 1 fee00000/51"], vectors.Calls);

        vectors.Calls.Clear();
        config.Write(control, 2, 0xC000); // function mask
        msix.ControlWritten();
        msix.Notify(1);
        Assert.Empty(vectors.Calls);
        config.Write(control, 2, 0x8000); // function unmasked: unmasked entries routed, the pending one fires
        msix.ControlWritten();
        Assert.Equal(["route 1 fee00000/51", "fire 1 fee00000/51"], vectors.Calls);
    }
}
