namespace Vessel.Cpu.Tests.Segmentation;

public class SegmentDescriptorTests
{
    [Fact]
    public void DecodesLinuxKernelCodeAndDataDescriptors()
    {
        var code64 = new SegmentDescriptor(0x00AF_9B00_0000_FFFF); // __KERNEL_CS
        Assert.True(code64.IsCode && code64.Long && !code64.DefaultBig && code64.Present);
        Assert.Equal(0, code64.Dpl);
        Assert.Equal(0xFFFF_FFFFu, code64.Limit);
        var userData = new SegmentDescriptor(0x00CF_F300_0000_FFFF); // __USER_DS
        Assert.True(userData.IsWritableData && userData.IsReadable && userData.DefaultBig);
        Assert.Equal(3, userData.Dpl);
    }

    [Fact]
    public void DecodesBaseLimitAndSixteenByteSystemDescriptors()
    {
        ulong low = SegmentedGuest.Descriptor(0xAB12_3456, 0x67, 0x9, system: true);
        var tss = new SegmentDescriptor(low, 0xFFFF_8000);
        Assert.Equal(0xAB12_3456UL, tss.Base);
        Assert.Equal(0xFFFF_8000_AB12_3456UL, tss.Base64);
        Assert.Equal(0x67u, tss.Limit);
        Assert.False(tss.CodeOrData);
        Assert.Equal(SystemType.Tss32Available, tss.Type);
        var segment = tss.ToSegment(0x40, systemBase64: true);
        Assert.Equal(0xFFFF_8000_AB12_3456UL, segment.Base);
    }

    [Fact]
    public void DecodesGateFields()
    {
        ulong low = 0x5678 | (0x10UL << 16) | (3UL << 32) | (0xEUL << 40) | (1UL << 47) | (0x1234UL << 48);
        var gate = new SegmentDescriptor(low, 0xFFFF_FFFF);
        Assert.Equal((ushort)0x10, gate.GateSelector);
        Assert.Equal(0x1234_5678UL, gate.GateOffset32);
        Assert.Equal(0xFFFF_FFFF_1234_5678UL, gate.GateOffset64);
        Assert.Equal(3, gate.GateIst);
    }
}
