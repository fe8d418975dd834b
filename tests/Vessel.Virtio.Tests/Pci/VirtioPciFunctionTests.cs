using Microsoft.Extensions.Logging;
using Vessel.Devices;
using Vessel.Devices.Pci;
using Vessel.Hypervisor;
using Vessel.Virtio.Pci;

namespace Vessel.Virtio.Tests.Pci;

public sealed class VirtioPciFunctionTests
{
    private const int Common = 0x0000, Isr = 0x1000, DeviceConfig = 0x2000, Notify = 0x3000;
    private const int DeviceFeatureSelect = 0x00, DeviceFeature = 0x04, DriverFeatureSelect = 0x08, DriverFeature = 0x0C,
        ConfigMsixVector = 0x10, NumQueues = 0x12, DeviceStatus = 0x14, ConfigGeneration = 0x15, QueueSelect = 0x16,
        QueueSize = 0x18, QueueMsixVector = 0x1A, QueueEnable = 0x1C, QueueNotifyOff = 0x1E, QueueDesc = 0x20,
        QueueDriver = 0x28, QueueDevice = 0x30;

    private sealed class Line : IInterruptLine
    {
        public bool Level;
        public void Set(bool level) => Level = level;
    }

    private sealed class Doorbells : IVirtioDoorbells
    {
        public Dictionary<ulong, Action> Live { get; } = [];

        public IDisposable? Add(ulong address, int size, Action ring)
        {
            Assert.Equal(2, size);
            Live.Add(address, ring);
            return new Removal(() => Live.Remove(address));
        }

        private sealed class Removal(Action remove) : IDisposable
        {
            public void Dispose() => remove();
        }
    }

    private sealed class Harness
    {
        public FakeVirtioDevice Device { get; } = new();
        public Line Intx { get; } = new();
        public List<(ulong, uint)> Messages { get; } = [];
        public Doorbells Doorbells { get; } = new();
        public List<string> Logs { get; } = [];
        public VirtioPciFunction Function { get; }

        public Harness()
        {
            Function = new VirtioPciFunction(Device, new GuestMemory(), Intx, (a, d) => Messages.Add((a, d)), Doorbells,
                new ListLogger(Logs), "virtio-test");
        }

        public ulong Read(int offset, int size) => Function.ReadBar(2, (ulong)offset, size);
        public void Write(int offset, int size, ulong value) => Function.WriteBar(2, (ulong)offset, size, value);

        public void Negotiate(ulong features)
        {
            Write(DeviceStatus, 1, VirtioPciFunction.StatusAcknowledge);
            Write(DeviceStatus, 1, VirtioPciFunction.StatusAcknowledge | VirtioPciFunction.StatusDriver);
            Write(DriverFeatureSelect, 4, 0);
            Write(DriverFeature, 4, (uint)features);
            Write(DriverFeatureSelect, 4, 1);
            Write(DriverFeature, 4, (uint)(features >> 32));
            Write(DeviceStatus, 1, 1 | 2 | VirtioPciFunction.StatusFeaturesOk);
        }

        public void SetUpQueue(int queue, ushort size, ulong desc)
        {
            Write(QueueSelect, 2, (ulong)queue);
            Write(QueueSize, 2, size);
            Write(QueueDesc, 4, (uint)desc);
            Write(QueueDesc + 4, 4, desc >> 32);
            Write(QueueDriver, 8, desc + 0x1000);
            Write(QueueDevice, 4, (uint)(desc + 0x2000));
            Write(QueueDevice + 4, 4, (desc + 0x2000) >> 32);
            Write(QueueEnable, 2, 1);
        }

        public void DriverOk() => Write(DeviceStatus, 1, 1 | 2 | 8 | VirtioPciFunction.StatusDriverOk);

        public void EnableMsix()
        {
            int control = Function.Msix.CapabilityOffset + 2;
            Function.Config.Write(control, 2, 0x8000);
            Function.ConfigWritten(control, 2);
            for (int v = 0; v < Function.Msix.VectorCount; v++)
            {
                Function.WriteBar(0, (ulong)(v * 16), 4, 0xFEE0_0000);
                Function.WriteBar(0, (ulong)(v * 16 + 8), 4, 0x30u + (uint)v);
                Function.WriteBar(0, (ulong)(v * 16 + 12), 4, 0);
            }
        }
    }

    private sealed class ListLogger(List<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Add(formatter(state, exception));
    }

    [Fact]
    public void IdentifiesAsAModernVirtioFunction()
    {
        var config = new Harness().Function.Config;
        Assert.Equal(0x1AF4, config.Read16(PciConfigSpace.VendorId));
        Assert.Equal(0x1044, config.Read16(PciConfigSpace.DeviceId)); // 0x1040 + entropy (4)
        Assert.Equal(1, config.Read8(PciConfigSpace.RevisionId));
        Assert.Equal(1, config.Read8(PciConfigSpace.InterruptPin));
    }

    [Fact]
    public void VendorCapabilitiesDescribeEveryRegionAsLinuxWalksThem()
    {
        var config = new Harness().Function.Config;
        var found = new Dictionary<byte, (byte Bar, uint Offset, uint Length, int At)>();
        int next = config.Read8(PciConfigSpace.CapabilitiesPointer);
        bool msix = false;
        for (int hops = 0; next != 0 && hops < 48; hops++)
        {
            byte id = config.Read8(next);
            if (id == MsixTable.CapabilityId) msix = true;
            if (id == 0x09) found[config.Read8(next + 3)] = (config.Read8(next + 4), config.Read32(next + 8), config.Read32(next + 12), next);
            next = config.Read8(next + 1);
        }
        Assert.True(msix);
        Assert.Equal((2, 0x0000u, 0x38u), (found[1].Bar, found[1].Offset, found[1].Length));   // common
        Assert.Equal((2, 0x3000u, 8u), (found[2].Bar, found[2].Offset, found[2].Length));      // notify, 2 queues
        Assert.Equal(4u, config.Read32(found[2].At + 16));                                     // notify_off_multiplier
        Assert.Equal(20, config.Read8(found[2].At + 2));                                       // cap_len of the notify cap
        Assert.Equal((2, 0x1000u), (found[3].Bar, found[3].Offset));                           // ISR
        Assert.Equal((2, 0x2000u, 8u), (found[4].Bar, found[4].Offset, found[4].Length));      // device config
    }

    [Fact]
    public void DeviceFeaturesAreReadThirtyTwoBitsAtATime()
    {
        var h = new Harness();
        h.Write(DeviceFeatureSelect, 4, 0);
        Assert.Equal(FakeVirtioDevice.Features & 0xFFFF_FFFF, h.Read(DeviceFeature, 4));
        h.Write(DeviceFeatureSelect, 4, 1);
        Assert.Equal(FakeVirtioDevice.Features >> 32, h.Read(DeviceFeature, 4));
        h.Write(DeviceFeatureSelect, 4, 2);
        Assert.Equal(0UL, h.Read(DeviceFeature, 4));
        Assert.Equal(2UL, h.Read(NumQueues, 2));
    }

    [Fact]
    public void FeaturesOkStaysSetForASubsetThatIncludesVersion1()
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1 | 1);
        Assert.Equal(VirtioPciFunction.StatusFeaturesOk, h.Read(DeviceStatus, 1) & VirtioPciFunction.StatusFeaturesOk);
        h.Write(DriverFeatureSelect, 4, 0);
        h.Write(DriverFeature, 4, 0xFFFF); // too late: features are fixed once FEATURES_OK is accepted
        Assert.Equal(1UL, h.Read(DriverFeature, 4));
    }

    [Theory]
    [InlineData(VirtioFeatures.Version1 | 2)]     // bit 1 not offered
    [InlineData(1UL)]                            // a legacy driver: no VERSION_1
    public void FeaturesOkIsRefusedForOtherSets(ulong features)
    {
        var h = new Harness();
        h.Negotiate(features);
        Assert.Equal(0UL, h.Read(DeviceStatus, 1) & VirtioPciFunction.StatusFeaturesOk);
        h.DriverOk();
        Assert.Empty(h.Device.Activations);
    }

    [Fact]
    public void DriverOkActivatesTheEnabledQueuesAsTheDriverSetThemUp()
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1);
        h.Write(QueueSelect, 2, 1);
        Assert.Equal(64UL, h.Read(QueueSize, 2));
        Assert.Equal(1UL, h.Read(QueueNotifyOff, 2));
        h.SetUpQueue(0, 32, 0x1_2345_0000);
        h.DriverOk();

        var activation = Assert.Single(h.Device.Activations);
        Assert.Equal(VirtioFeatures.Version1, activation.NegotiatedFeatures);
        Assert.Equal(new VirtioQueueConfig(32, 0x1_2345_0000, 0x1_2345_1000, 0x1_2345_2000), activation.Queues[0]);
        Assert.Null(activation.Queues[1]);
        Assert.Same(h.Function, activation.Interrupt);
        h.Write(QueueSelect, 2, 0);
        Assert.Equal(0x1_2345_0000UL, h.Read(QueueDesc, 8));
        Assert.Equal(1UL, h.Read(QueueEnable, 2));
    }

    [Theory]
    [InlineData(48)]
    [InlineData(128)]
    [InlineData(0)]
    public void ABadQueueSizeMeansNeedsResetNotActivation(int size)
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(0, (ushort)size, 0x10000);
        h.DriverOk();
        Assert.Empty(h.Device.Activations);
        Assert.Equal(VirtioPciFunction.StatusNeedsReset, h.Read(DeviceStatus, 1) & VirtioPciFunction.StatusNeedsReset);
        Assert.Single(h.Logs, l => l.Contains("DEVICE_NEEDS_RESET") && l.Contains("queue 0 size"));
        Assert.True(h.Intx.Level); // the config interrupt
        Assert.Equal((ulong)VirtioPciFunction.IsrConfig, h.Read(Isr, 1));
    }

    [Fact]
    public void ADeviceThatThrowsOnActivationNeedsResetAndNothingEscapes()
    {
        var h = new Harness();
        h.Device.ThrowOnActivate = new GuestMemoryException(0xdead_0000, 16);
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(0, 16, 0x10000);
        h.DriverOk();
        Assert.NotEqual(0UL, h.Read(DeviceStatus, 1) & VirtioPciFunction.StatusNeedsReset);
    }

    [Fact]
    public void NotifyReachesTheDeviceOnlyOnceActiveAndForEnabledQueues()
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(0, 16, 0x10000);
        h.Write(Notify, 2, 0);
        Assert.Empty(h.Device.Notifications);
        h.DriverOk();
        h.Write(Notify, 2, 0);
        h.Write(Notify + 4, 2, 1); // queue 1 is not enabled
        h.Write(Notify + 2, 2, 0); // not a doorbell
        h.Write(Notify + 400, 2, 0);
        Assert.Equal([0], h.Device.Notifications);
    }

    [Fact]
    public void DoorbellsFollowTheRegisterBarAndRingTheQueue()
    {
        var h = new Harness();
        h.Function.BarMapped(2, 0xC000_4000);
        Assert.Equal([0xC000_7000UL, 0xC000_7004UL], h.Doorbells.Live.Keys.Order());
        h.Function.BarMapped(2, 0xD000_0000);
        Assert.Equal([0xD000_3000UL, 0xD000_3004UL], h.Doorbells.Live.Keys.Order());
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(1, 16, 0x10000);
        h.DriverOk();
        h.Doorbells.Live[0xD000_3004]();
        Assert.Equal([1], h.Device.Notifications);
        h.Function.BarMapped(2, null);
        Assert.Empty(h.Doorbells.Live);
    }

    [Fact]
    public void WritingZeroStatusResetsDeviceAndRegisters()
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(0, 16, 0x10000);
        h.Write(ConfigMsixVector, 2, 1);
        h.DriverOk();
        h.Write(DeviceStatus, 1, 0);
        Assert.Equal(1, h.Device.Resets);
        Assert.Equal(0UL, h.Read(DeviceStatus, 1));
        Assert.Equal(0xFFFFUL, h.Read(ConfigMsixVector, 2));
        h.Write(QueueSelect, 2, 0);
        Assert.Equal(0UL, h.Read(QueueEnable, 2));
        Assert.Equal(64UL, h.Read(QueueSize, 2));
        h.Write(DriverFeatureSelect, 4, 1);
        Assert.Equal(0UL, h.Read(DriverFeature, 4));
    }

    [Fact]
    public void IntxRisesWithTheIsrAndAnIsrReadClearsBoth()
    {
        var h = new Harness();
        h.Function.QueueInterrupt(0);
        Assert.True(h.Intx.Level);
        Assert.Equal(1UL, h.Read(Isr, 1));
        Assert.False(h.Intx.Level);
        Assert.Equal(0UL, h.Read(Isr, 1));
        h.Function.ConfigInterrupt();
        Assert.Equal(1UL, h.Read(ConfigGeneration, 1));
        Assert.Equal((ulong)VirtioPciFunction.IsrConfig, h.Read(Isr, 1));
    }

    [Fact]
    public void InterruptDisableInTheCommandRegisterHoldsIntxLow()
    {
        var h = new Harness();
        h.Function.Config.Write(PciConfigSpace.Command, 2, PciConfigSpace.CommandInterruptDisable);
        h.Function.ConfigWritten(PciConfigSpace.Command, 2);
        h.Function.QueueInterrupt(0);
        Assert.False(h.Intx.Level);
        h.Function.Config.Write(PciConfigSpace.Command, 2, 0);
        h.Function.ConfigWritten(PciConfigSpace.Command, 2);
        Assert.True(h.Intx.Level);
    }

    [Fact]
    public void WithMsixEachQueueSignalsItsOwnVectorAndNoIntx()
    {
        var h = new Harness();
        h.EnableMsix();
        h.Write(ConfigMsixVector, 2, 0);
        h.Write(QueueSelect, 2, 0);
        h.Write(QueueMsixVector, 2, 1);
        h.Write(QueueSelect, 2, 1);
        h.Write(QueueMsixVector, 2, 2);
        Assert.Equal(2UL, h.Read(QueueMsixVector, 2));
        h.Write(QueueMsixVector, 2, 7); // beyond the 3-entry table: the driver reads NO_VECTOR back
        Assert.Equal(0xFFFFUL, h.Read(QueueMsixVector, 2));
        h.Write(QueueMsixVector, 2, 2);

        h.Function.QueueInterrupt(1);
        h.Function.QueueInterrupt(0);
        h.Function.ConfigInterrupt();
        Assert.Equal([(0xFEE0_0000UL, 0x32u), (0xFEE0_0000UL, 0x31u), (0xFEE0_0000UL, 0x30u)], h.Messages);
        Assert.False(h.Intx.Level);
        Assert.Equal(0UL, h.Read(Isr, 1));
    }

    [Fact]
    public void NeedsResetIsLoggedOnceAndSurvivesStatusWritesUntilReset()
    {
        var h = new Harness();
        h.Negotiate(VirtioFeatures.Version1);
        h.SetUpQueue(0, 16, 0x10000);
        h.DriverOk();
        h.Function.NeedsReset("descriptor 3 points outside guest memory");
        h.Function.NeedsReset("again");
        Assert.Single(h.Logs, l => l.Contains("DEVICE_NEEDS_RESET"));
        h.DriverOk();
        Assert.NotEqual(0UL, h.Read(DeviceStatus, 1) & VirtioPciFunction.StatusNeedsReset);
        h.Write(Notify, 2, 0);
        Assert.Empty(h.Device.Notifications);
        h.Write(DeviceStatus, 1, 0);
        Assert.Equal(0UL, h.Read(DeviceStatus, 1));
    }

    [Fact]
    public void DeviceConfigPassesThroughWithinItsSizeOnly()
    {
        var h = new Harness();
        Assert.Equal(0x0403_0201UL, h.Read(DeviceConfig, 4));
        Assert.Equal(0x0807_0605_0403_0201UL, h.Read(DeviceConfig, 8));
        h.Write(DeviceConfig + 6, 2, 0xBBAA);
        Assert.Equal(0xAA, h.Device.ConfigBytes[6]);
        Assert.Equal(0UL, h.Read(DeviceConfig + 6, 4)); // crosses the end
        h.Write(DeviceConfig + 8, 1, 0xFF);
        Assert.Equal(0UL, h.Read(0x0FFC, 4));           // between regions
    }

    [Fact]
    public void DisposeRemovesDoorbellsAndDisposesTheDevice()
    {
        var h = new Harness();
        h.Function.BarMapped(2, 0xC000_4000);
        h.Function.Dispose();
        Assert.Empty(h.Doorbells.Live);
        Assert.True(h.Device.Disposed);
    }
}
