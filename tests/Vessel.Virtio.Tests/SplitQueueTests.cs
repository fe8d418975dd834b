using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Tests;

public sealed class SplitQueueTests : IDisposable
{
    private const ulong AllRing = VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;
    private readonly GuestRam _ram = new();
    private readonly FakeQueue _driver;
    private readonly DescriptorChain _chain = new(16);

    public SplitQueueTests() => _driver = new FakeQueue(_ram.Memory, 16, 0x1_0000, 0x1_4000, 0x1_8000);

    public void Dispose() => _ram.Dispose();

    private SplitQueue Create(ulong features = AllRing)
    {
        var q = SplitQueue.TryCreate(_ram.Memory, _driver.Config, features, 256, out var error);
        Assert.Null(error);
        return q!;
    }

    private string Broken(SplitQueue q)
    {
        Assert.Equal(PopResult.Broken, q.TryPop(_chain));
        Assert.Equal(PopResult.Broken, q.TryPop(_chain)); // stays broken
        return q.Violation!;
    }

    [Fact]
    public void A_direct_chain_is_read_readable_first_then_writable()
    {
        var q = Create();
        Assert.Equal(PopResult.Empty, q.TryPop(_chain));
        ushort head = _driver.AddChain(Buf.R(0x2_0000, 16), Buf.R(0x2_1000, 100), Buf.W(0x2_2000, 512), Buf.W(0x2_3000, 1));
        Assert.Equal(PopResult.Chain, q.TryPop(_chain));
        Assert.Equal(head, _chain.Head);
        Assert.Equal(4, _chain.Count);
        Assert.Equal(116UL, _chain.ReadableBytes);
        Assert.Equal(513UL, _chain.WritableBytes);
        Assert.Equal(0x2_2000UL, _chain.Segments[2].GuestAddress);
        Assert.True(_chain.Segments[2].Writable);
        Assert.Equal(PopResult.Empty, q.TryPop(_chain));
    }

    [Fact]
    public void Chain_bytes_cross_segment_boundaries_and_writes_land_in_guest_ram()
    {
        var q = Create();
        _ram.Memory.Write(0x2_0000, "abc"u8);
        _ram.Memory.Write(0x2_1000, "defgh"u8);
        _driver.AddChain(Buf.R(0x2_0000, 3), Buf.R(0x2_1000, 5), Buf.W(0x2_2000, 2), Buf.W(0x2_3000, 4));
        Assert.Equal(PopResult.Chain, q.TryPop(_chain));
        var read = new byte[6];
        Assert.Equal(6, _chain.ReadFrom(1, read));
        Assert.Equal("bcdefg"u8.ToArray(), read);
        Assert.Equal(5, _chain.WriteTo(1, "VWXYZ"u8, _ram.Memory));
        Assert.Equal((byte)'V', _ram.Memory.ReadByte(0x2_2001));
        Assert.Equal("WXYZ"u8.ToArray(), _ram.Read(0x2_3000, 4));
        Assert.Equal(0, _chain.WriteTo(6, "!"u8, _ram.Memory));
    }

    [Fact]
    public void An_indirect_table_is_walked()
    {
        var q = Create();
        ushort head = _driver.AddIndirectChain(0x3_0000, Buf.R(0x2_0000, 16), Buf.W(0x2_1000, 4096), Buf.W(0x2_3000, 1));
        Assert.Equal(PopResult.Chain, q.TryPop(_chain));
        Assert.Equal(head, _chain.Head);
        Assert.Equal(3, _chain.Count);
        Assert.Equal(16UL, _chain.ReadableBytes);
        Assert.Equal(4097UL, _chain.WritableBytes);
    }

    [Fact]
    public void Available_and_used_indices_wrap_around_16_bits()
    {
        var q = Create();
        for (int d = 0; d < 16; d++)
            _driver.SetDescriptor(d, 0x2_0000 + (ulong)d * 16, 16, FakeQueue.FlagWrite, 0);
        for (int i = 0; i < 65536 + 20; i++)
        {
            ushort head = (ushort)((i * 7) % 16);
            _driver.Publish(head);
            Assert.Equal(PopResult.Chain, q.TryPop(_chain));
            Assert.Equal(head, _chain.Head);
            q.AddUsed(head, (uint)i);
            if (i > 65520)
            {
                var (id, len) = _driver.TakeUsed();
                Assert.Equal((head, (uint)i), (id, len));
            }
            else
                Assert.True(_driver.TryTakeUsed(out _, out _));
        }
        Assert.Equal((ushort)20, _driver.UsedIndex);
        Assert.Equal((ushort)20, q.NextAvailable);
        Assert.Equal(PopResult.Empty, q.TryPop(_chain));
    }

    [Fact]
    public void Without_event_idx_the_no_interrupt_flag_is_honoured()
    {
        var q = Create(VirtioFeatures.Version1);
        _driver.AddChain(Buf.W(0x2_0000, 8));
        Assert.Equal(PopResult.Chain, q.TryPop(_chain));
        q.AddUsed(_chain.Head, 8);
        Assert.True(q.ShouldInterrupt());
        Assert.False(q.ShouldInterrupt()); // nothing new
        _driver.SetAvailFlags(1);
        _driver.AddChain(Buf.W(0x2_0000, 8));
        Assert.Equal(PopResult.Chain, q.TryPop(_chain));
        q.AddUsed(_chain.Head, 8);
        Assert.False(q.ShouldInterrupt());
    }

    [Fact]
    public void With_event_idx_the_device_interrupts_only_when_used_passes_used_event()
    {
        var q = Create();
        _driver.SetUsedEvent(2); // interrupt me when used idx goes past 2, i.e. after the third buffer
        for (int i = 0; i < 5; i++)
            _driver.AddChain(Buf.W(0x2_0000, 8));
        var interrupts = new List<bool>();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(PopResult.Chain, q.TryPop(_chain));
            q.AddUsed(_chain.Head, 0);
            interrupts.Add(q.ShouldInterrupt());
        }
        Assert.Equal([false, false, true, false, false], interrupts);
        // The device asks to be kicked at its next available entry.
        Assert.False(q.ArmNotification());
        Assert.Equal((ushort)5, _driver.AvailEvent);
        _driver.AddChain(Buf.W(0x2_0000, 8));
        Assert.True(q.ArmNotification());
    }

    [Fact]
    public void Indirect_without_the_feature_breaks_the_queue()
    {
        var q = Create(VirtioFeatures.Version1);
        _driver.AddIndirectChain(0x3_0000, Buf.W(0x2_0000, 8));
        Assert.Contains("VIRTIO_F_INDIRECT_DESC", Broken(q));
    }

    public static TheoryData<string, string> Violations => new()
    {
        { "outside", "outside guest RAM" },
        { "straddle", "outside guest RAM" },
        { "overflow", "outside guest RAM" },
        { "loop", "loop" },
        { "self-loop", "loop" },
        { "next", "outside its table" },
        { "head", "names descriptor" },
        { "jump", "ahead" },
        { "order", "follows a device-writable" },
        { "nested-indirect", "another indirect" },
        { "indirect-next", "both indirect and chained" },
        { "indirect-length", "multiple of 16" },
        { "indirect-empty", "multiple of 16" },
        { "indirect-huge", "multiple of 16" },
        { "indirect-outside", "outside guest RAM" },
        { "indirect-loop", "loop" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void Every_malformed_chain_breaks_the_queue_with_a_reason(string kind, string reason)
    {
        var q = Create();
        const ushort Next = FakeQueue.FlagNext, Write = FakeQueue.FlagWrite, Indirect = FakeQueue.FlagIndirect;
        ulong t = 0x3_0000;
        void Ind(int i, ulong address, uint length, ushort flags, ushort next)
        {
            _ram.Memory.WriteUInt64(t + 16UL * (ulong)i, address);
            _ram.Memory.WriteUInt32(t + 16UL * (ulong)i + 8, length);
            _ram.Memory.WriteUInt16(t + 16UL * (ulong)i + 12, flags);
            _ram.Memory.WriteUInt16(t + 16UL * (ulong)i + 14, next);
        }
        switch (kind)
        {
            case "outside": _driver.SetDescriptor(0, GuestRam.RamBytes + 0x1000, 16, 0, 0); break;
            case "straddle": _driver.SetDescriptor(0, GuestRam.RamBytes - 8, 16, 0, 0); break;
            case "overflow": _driver.SetDescriptor(0, ulong.MaxValue - 4, 16, 0, 0); break;
            case "loop":
                _driver.SetDescriptor(0, 0x2_0000, 8, Next, 1);
                _driver.SetDescriptor(1, 0x2_0000, 8, Next, 2);
                _driver.SetDescriptor(2, 0x2_0000, 8, Next, 0);
                break;
            case "self-loop": _driver.SetDescriptor(0, 0x2_0000, 0, Next, 0); break;
            case "next": _driver.SetDescriptor(0, 0x2_0000, 8, Next, 16); break;
            case "head": _driver.Publish(16); _driver.SetAvailIndex(1); goto Pop;
            case "jump": _driver.SetAvailIndex(17); goto Pop;
            case "order":
                _driver.SetDescriptor(0, 0x2_0000, 8, Write | Next, 1);
                _driver.SetDescriptor(1, 0x2_0000, 8, 0, 0);
                break;
            case "nested-indirect":
                Ind(0, 0x3_1000, 16, Indirect, 0);
                _driver.SetDescriptor(0, t, 16, Indirect, 0);
                break;
            case "indirect-next": Ind(0, 0x2_0000, 8, 0, 0); _driver.SetDescriptor(0, t, 16, Indirect | Next, 1); break;
            case "indirect-length": _driver.SetDescriptor(0, t, 24, Indirect, 0); break;
            case "indirect-empty": _driver.SetDescriptor(0, t, 0, Indirect, 0); break;
            case "indirect-huge": _driver.SetDescriptor(0, t, 16 * 17, Indirect, 0); break;
            case "indirect-outside": _driver.SetDescriptor(0, GuestRam.RamBytes - 16, 32, Indirect, 0); break;
            case "indirect-loop":
                Ind(0, 0x2_0000, 8, Next, 1);
                Ind(1, 0x2_0000, 8, Next, 0);
                _driver.SetDescriptor(0, t, 32, Indirect, 0);
                break;
        }
        _driver.Publish(0);
    Pop:
        Assert.Contains(reason, Broken(q));
    }

    [Theory]
    [InlineData(0, 0x1_0000UL, 0x1_4000UL, 0x1_8000UL, "power of two")]
    [InlineData(12, 0x1_0000UL, 0x1_4000UL, 0x1_8000UL, "power of two")]
    [InlineData(512, 0x1_0000UL, 0x1_4000UL, 0x1_8000UL, "power of two")]
    [InlineData(16, 0x1_0008UL, 0x1_4000UL, 0x1_8000UL, "misaligned")]
    [InlineData(16, 0x1_0000UL, 0x1_4001UL, 0x1_8000UL, "misaligned")]
    [InlineData(16, 0x1_0000UL, 0x1_4000UL, 0x1_8002UL, "misaligned")]
    [InlineData(16, GuestRam.RamBytes - 0x80UL, 0x1_4000UL, 0x1_8000UL, "outside guest RAM")]
    [InlineData(16, 0x1_0000UL, 0x8000_0000UL, 0x1_8000UL, "outside guest RAM")]
    [InlineData(16, 0x1_0000UL, 0x1_4000UL, GuestRam.HighBase + GuestRam.HighBytes - 64, "outside guest RAM")]
    public void A_bad_queue_layout_is_refused(ushort size, ulong descriptors, ulong avail, ulong used, string reason)
    {
        var q = SplitQueue.TryCreate(_ram.Memory, new VirtioQueueConfig(size, descriptors, avail, used), AllRing, 256, out var error);
        Assert.Null(q);
        Assert.Contains(reason, error);
    }
}
