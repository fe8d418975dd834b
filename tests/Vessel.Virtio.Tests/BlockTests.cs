using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Vessel.Virtio.Block;

namespace Vessel.Virtio.Tests;

public sealed class BlockTests : IDisposable
{
    private const int ImageBytes = 256 * 1024;
    private readonly TempImage _image = new(ImageBytes, i => (byte)(i * 7 + (i >> 9)));

    public void Dispose() => _image.Dispose();

    private FakeDriver Start(bool readOnly = false, string? id = null)
    {
        var driver = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(_image.Path, readOnly, id)));
        driver.Activate();
        return driver;
    }

    private static ulong Header(FakeDriver d, uint type, ulong sector)
    {
        ulong h = d.Ram.Alloc(16);
        d.Ram.Memory.WriteUInt32(h, type);
        d.Ram.Memory.WriteUInt32(h + 4, 0);
        d.Ram.Memory.WriteUInt64(h + 8, sector);
        return h;
    }

    /// <summary>Sends one request (header, then <paramref name="data"/>, then a status byte) and returns the status
    /// and the used length.</summary>
    private static (byte Status, uint Used) Request(FakeDriver d, uint type, ulong sector, params Buf[] data)
    {
        ulong status = d.Ram.Alloc(1, 1);
        d.Ram.Memory.WriteByte(status, 0xEE);
        var chain = new List<Buf> { Buf.R(Header(d, type, sector), 16) };
        chain.AddRange(data);
        chain.Add(Buf.W(status, 1));
        ushort head = d.Queues[0].AddChain([.. chain]);
        d.Kick();
        var (id, used) = d.Queues[0].TakeUsed();
        Assert.Equal(head, id);
        return (d.Ram.Memory.ReadByte(status), used);
    }

    [Fact]
    public void Config_reports_capacity_block_size_and_limits()
    {
        using var d = Start();
        var config = new byte[d.Device.ConfigSize];
        d.Device.ReadConfig(0, config);
        Assert.Equal((ulong)ImageBytes / 512, BinaryPrimitives.ReadUInt64LittleEndian(config));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(20)));
        Assert.Equal(VirtioBlock.MaxDiscardSegments, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(40)));
        Assert.Equal(VirtioBlock.MaxDiscardSectors, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(48)));
        Assert.Equal(0UL, d.Device.OfferedFeatures & VirtioBlock.FeatureRo);
    }

    [Fact]
    public void Read_returns_the_image_bytes_across_several_buffers()
    {
        using var d = Start();
        ulong a = d.Ram.Alloc(512), b = d.Ram.Alloc(1024);
        var (status, used) = Request(d, VirtioBlock.TypeIn, 3, Buf.W(a, 512), Buf.W(b, 1024));
        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(1536u + 1, used);
        var expected = _image.ReadAll().AsSpan(3 * 512, 1536).ToArray();
        Assert.Equal(expected[..512], d.Ram.Read(a, 512));
        Assert.Equal(expected[512..], d.Ram.Read(b, 1024));
        Assert.True(d.Interrupt.QueueInterrupts(0) >= 1);
    }

    [Fact]
    public void Write_reaches_the_image_file_and_flush_succeeds()
    {
        using var d = Start();
        ulong a = d.Ram.Alloc(1024);
        var payload = Enumerable.Range(0, 1024).Select(i => (byte)(255 - i % 251)).ToArray();
        d.Ram.Memory.Write(a, payload);
        var before = _image.ReadAll();
        Assert.Equal((VirtioBlock.StatusOk, 1u), Request(d, VirtioBlock.TypeOut, 10, Buf.R(a, 600), Buf.R(a + 600, 424)));
        Assert.Equal((VirtioBlock.StatusOk, 1u), Request(d, VirtioBlock.TypeFlush, 0));
        var after = _image.ReadAll();
        Assert.Equal(payload, after.AsSpan(10 * 512, 1024).ToArray());
        Assert.Equal(before[..(10 * 512)], after[..(10 * 512)]);
        Assert.Equal(before[(11 * 512 + 512)..], after[(11 * 512 + 512)..]);
    }

    [Fact]
    public void Get_id_returns_the_serial_padded_with_zeros()
    {
        using var d = Start(id: "disk-7");
        ulong a = d.Ram.Alloc(20);
        d.Ram.Memory.Fill(a, 20, 0xFF);
        var (status, used) = Request(d, VirtioBlock.TypeGetId, 0, Buf.W(a, 20));
        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(21u, used);
        Assert.Equal("disk-7"u8.ToArray().Concat(new byte[14]).ToArray(), d.Ram.Read(a, 20));
    }

    [Fact]
    public void Requests_past_the_end_get_an_io_error_and_leave_the_image_alone()
    {
        using var d = Start();
        var before = _image.ReadAll();
        ulong a = d.Ram.Alloc(1024);
        ulong last = ImageBytes / 512 - 1;
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeIn, last, Buf.W(a, 1024)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeOut, last, Buf.R(a, 1024)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeOut, ulong.MaxValue / 256, Buf.R(a, 512)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeIn, 0, Buf.W(a, 100)).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, last, Buf.W(a, 512)).Status);
        Assert.Equal(before, _image.ReadAll());
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void Read_only_disk_offers_RO_and_refuses_every_write()
    {
        File.SetUnixFileMode(_image.Path, UnixFileMode.UserRead);
        using var d = Start(readOnly: true);
        Assert.NotEqual(0UL, d.Device.OfferedFeatures & VirtioBlock.FeatureRo);
        var before = _image.ReadAll();
        ulong a = d.Ram.Alloc(512), seg = d.Ram.Alloc(16);
        d.Ram.Memory.Fill(a, 512, 0x42);
        d.Ram.Memory.WriteUInt64(seg, 0);
        d.Ram.Memory.WriteUInt32(seg + 8, 8);
        d.Ram.Memory.WriteUInt32(seg + 12, 0);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeOut, 0, Buf.R(a, 512)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeDiscard, 0, Buf.R(seg, 16)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeWriteZeroes, 0, Buf.R(seg, 16)).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, 0, Buf.W(a, 512)).Status);
        Assert.Equal(before[..512], d.Ram.Read(a, 512));
        Assert.Equal(before, _image.ReadAll());
    }

    [Theory]
    [InlineData(VirtioBlock.TypeDiscard)]
    [InlineData(VirtioBlock.TypeWriteZeroes)]
    public void Discard_and_write_zeroes_punch_a_hole(uint type)
    {
        using var image = new TempImage(1 << 20, _ => 0x5A);
        var d = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(image.Path)));
        using var _ = d;
        d.Activate();
        long blocksBefore = AllocatedBlocks(image.Path);
        ulong seg = d.Ram.Alloc(32);
        d.Ram.Memory.WriteUInt64(seg, 128);                 // 64 KiB in: 256 KiB
        d.Ram.Memory.WriteUInt32(seg + 8, 512);
        d.Ram.Memory.WriteUInt32(seg + 12, type == VirtioBlock.TypeWriteZeroes ? 1u : 0u);
        d.Ram.Memory.WriteUInt64(seg + 16, 2048 - 8);        // and the last 4 KiB
        d.Ram.Memory.WriteUInt32(seg + 24, 8);
        d.Ram.Memory.WriteUInt32(seg + 28, 0);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, type, 0, Buf.R(seg, 32)).Status);
        var after = image.ReadAll();
        Assert.Equal(1 << 20, after.Length);
        Assert.All(after.AsSpan(64 << 10, 256 << 10).ToArray(), b => Assert.Equal(0, b));
        Assert.All(after.AsSpan((1 << 20) - 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.All(after.AsSpan(0, 64 << 10).ToArray(), b => Assert.Equal(0x5A, b));
        Assert.All(after.AsSpan(320 << 10, (1 << 20) - (320 << 10) - 4096).ToArray(), b => Assert.Equal(0x5A, b));
        // The file system really deallocated the range (tmpfs, ext4, xfs and btrfs all punch holes).
        Assert.True(AllocatedBlocks(image.Path) <= blocksBefore - (256 << 10) / 512,
            $"st_blocks {blocksBefore} -> {AllocatedBlocks(image.Path)}");
    }

    [Fact]
    public void Write_zeroes_without_unmap_zeroes_and_keeps_the_blocks()
    {
        using var image = new TempImage(1 << 20, _ => 0x5A);
        using var d = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(image.Path)));
        d.Activate();
        long blocksBefore = AllocatedBlocks(image.Path);
        ulong seg = d.Ram.Alloc(16);
        d.Ram.Memory.WriteUInt64(seg, 8);
        d.Ram.Memory.WriteUInt32(seg + 8, 256);
        d.Ram.Memory.WriteUInt32(seg + 12, 0);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeWriteZeroes, 0, Buf.R(seg, 16)).Status);
        var after = image.ReadAll();
        Assert.All(after.AsSpan(4096, 128 << 10).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0x5A, after[4095]);
        Assert.Equal(0x5A, after[4096 + (128 << 10)]);
        Assert.Equal(blocksBefore, AllocatedBlocks(image.Path));
    }

    [Fact]
    public void State_records_features_and_queue_position_after_a_drain()
    {
        using var d = Start(id: "st");
        ulong a = d.Ram.Alloc(512);
        for (int i = 0; i < 3; i++)
            Request(d, VirtioBlock.TypeIn, (ulong)i, Buf.W(a, 512));
        var state = ((VirtioBlock)d.Device).State;
        Assert.Equal(d.Features, state.NegotiatedFeatures);
        Assert.Equal("st", state.Id);
        Assert.Equal((ulong)ImageBytes / 512, state.CapacitySectors);
        Assert.False(state.NeedsReset);
        var queue = Assert.Single(state.Queues)!;
        Assert.Equal((ushort)3, queue.NextAvailable);
        Assert.Equal((ushort)3, queue.NextUsed);
        Assert.Equal(d.Queues[0].Descriptors, queue.DescriptorTable);
    }

    [Fact]
    public void Discard_with_bad_segments_is_an_error_not_a_reset()
    {
        using var d = Start();
        ulong seg = d.Ram.Alloc(16);
        d.Ram.Memory.WriteUInt64(seg, ImageBytes / 512 - 4);
        d.Ram.Memory.WriteUInt32(seg + 8, 8);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeDiscard, 0, Buf.R(seg, 16)).Status);
        d.Ram.Memory.WriteUInt64(seg, 0);
        d.Ram.Memory.WriteUInt32(seg + 12, 1);
        Assert.Equal(VirtioBlock.StatusUnsupported, Request(d, VirtioBlock.TypeDiscard, 0, Buf.R(seg, 16)).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeDiscard, 0, Buf.R(seg, 12)).Status);
        Assert.Equal(VirtioBlock.StatusUnsupported, Request(d, 99, 0).Status);
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void A_request_without_header_or_status_makes_the_device_need_a_reset()
    {
        using var d = Start();
        ulong a = d.Ram.Alloc(512);
        d.Queues[0].AddChain(Buf.R(a, 8), Buf.W(a + 8, 1));
        d.Kick();
        Assert.Single(d.Interrupt.Resets);
        Assert.Contains("header", d.Interrupt.Resets[0]);
        // Stopped: later requests are not served, and the reason is given once.
        d.Queues[0].AddChain(Buf.R(a, 16), Buf.W(a + 16, 1));
        d.Kick();
        Assert.Equal(0, d.Queues[0].UsedIndex);
        Assert.Single(d.Interrupt.Resets);
        // A reset and a new activation serve again.
        d.Device.Reset();
        var fresh = new FakeQueue(d.Ram.Memory, 64, 0x5_0000, 0x5_4000, 0x5_8000);
        d.Device.Activate(new VirtioActivation(d.Ram.Memory, d.Features, [fresh.Config], d.Interrupt));
        ulong s = d.Ram.Alloc(1, 1);
        ulong h = Header(d, VirtioBlock.TypeFlush, 0);
        fresh.AddChain(Buf.R(h, 16), Buf.W(s, 1));
        d.Kick();
        Assert.Equal(1, fresh.UsedIndex);
        Assert.Equal(VirtioBlock.StatusOk, d.Ram.Memory.ReadByte(s));
    }

    [Theory]
    [InlineData(VirtioBlock.TypeIn, false)]
    [InlineData(VirtioBlock.TypeGetId, false)]
    [InlineData(VirtioBlock.TypeOut, true)]
    [InlineData(VirtioBlock.TypeFlush, true)]
    [InlineData(VirtioBlock.TypeDiscard, true)]
    public void Data_going_the_wrong_way_makes_the_device_need_a_reset(uint type, bool dataWritable)
    {
        var before = _image.ReadAll();
        using var d = Start();
        ulong a = d.Ram.Alloc(512);
        d.Ram.Memory.Fill(a, 512, 0x77);
        ulong s = d.Ram.Alloc(1, 1);
        d.Queues[0].AddChain(Buf.R(Header(d, type, 0), 16), new Buf(a, 512, dataWritable), Buf.W(s, 1));
        d.Kick();
        Assert.Contains("wrong way", Assert.Single(d.Interrupt.Resets));
        Assert.Equal(0, d.Queues[0].UsedIndex);
        Assert.All(d.Ram.Read(a, 512), x => Assert.Equal(0x77, x));
        Assert.Equal(before, _image.ReadAll());
    }

    [Fact]
    public void Missing_image_is_a_one_line_disk_image_error()
    {
        var e = Assert.Throws<DiskImageException>(() => new VirtioBlock(new VirtioBlockOptions("/nonexistent/disk.img")));
        Assert.Contains("/nonexistent/disk.img", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var dir = Assert.Throws<DiskImageException>(() => new VirtioBlock(new VirtioBlockOptions(Path.GetTempPath())));
        Assert.Contains("directory", dir.Message);
    }

    [Fact]
    public void Several_disks_serve_their_own_images()
    {
        using var other = new TempImage(64 * 1024, _ => 0x33);
        using var d1 = Start();
        using var d2 = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(other.Path, Id: "second")));
        d2.Activate();
        ulong a = d1.Ram.Alloc(512), b = d2.Ram.Alloc(512);
        Assert.Equal(VirtioBlock.StatusOk, Request(d1, VirtioBlock.TypeIn, 0, Buf.W(a, 512)).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(d2, VirtioBlock.TypeIn, 0, Buf.W(b, 512)).Status);
        Assert.Equal(_image.ReadAll()[..512], d1.Ram.Read(a, 512));
        Assert.All(d2.Ram.Read(b, 512), x => Assert.Equal(0x33, x));
    }

    private static long AllocatedBlocks(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string s = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Swapping_the_image_serves_the_new_file_reports_its_size_and_raises_a_config_interrupt()
    {
        using var d = Start();
        using var other = new TempImage(64 * 1024, i => (byte)(i * 13 + 1));
        var device = (VirtioBlock)d.Device;
        ulong a = d.Ram.Alloc(512);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, 0, Buf.W(a, 512)).Status);

        device.SwapImage(other.Path);
        Assert.Equal(1, d.Interrupt.ConfigInterrupts);
        var config = new byte[8];
        d.Device.ReadConfig(0, config);
        Assert.Equal(64UL * 1024 / 512, BinaryPrimitives.ReadUInt64LittleEndian(config));
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, 2, Buf.W(a, 512)).Status);
        Assert.Equal(other.ReadAll().AsSpan(1024, 512).ToArray(), d.Ram.Read(a, 512));
        // Beyond the new, smaller capacity: refused, though the old image was larger.
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeIn, 200, Buf.W(a, 512)).Status);

        // Writes go to the new file only.
        var original = _image.ReadAll();
        d.Ram.Memory.Write(a, Enumerable.Repeat((byte)0x5A, 512).ToArray());
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeOut, 1, Buf.R(a, 512)).Status);
        Assert.Equal(original, _image.ReadAll());
        Assert.All(other.ReadAll().AsSpan(512, 512).ToArray(), b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public void A_swap_to_a_missing_file_fails_and_the_disk_keeps_its_image()
    {
        using var d = Start(readOnly: true);
        var device = (VirtioBlock)d.Device;
        Assert.Throws<DiskImageException>(() => device.SwapImage("/nonexistent/disk.img"));
        Assert.Equal(0, d.Interrupt.ConfigInterrupts);
        ulong a = d.Ram.Alloc(512);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, 5, Buf.W(a, 512)).Status);
        Assert.Equal(_image.ReadAll().AsSpan(5 * 512, 512).ToArray(), d.Ram.Read(a, 512));
        Assert.True(device.ReadOnly);
    }

    [Fact]
    public void A_paused_device_finishes_what_was_kicked_then_serves_nothing_until_resumed()
    {
        using var d = Start();
        var device = (VirtioBlock)d.Device;
        ulong a = d.Ram.Alloc(512), b = d.Ram.Alloc(512);
        ulong status = d.Ram.Alloc(1, 1);
        ulong header = Header(d, VirtioBlock.TypeIn, 4);
        d.Queues[0].AddChain(Buf.R(header, 16), Buf.W(a, 512), Buf.W(status, 1));
        d.Kick();
        Assert.True(device.Pause());
        Assert.True(d.Queues[0].TryTakeUsed(out _, out _), "a request kicked before the pause was not served by it");
        Assert.True(device.IsPaused);

        // Kicked while paused: nothing is read, written or signalled.
        int interrupts = d.Interrupt.QueueInterrupts(0);
        d.Queues[0].AddChain(Buf.R(Header(d, VirtioBlock.TypeIn, 6), 16), Buf.W(b, 512), Buf.W(d.Ram.Alloc(1, 1), 1));
        d.Kick();
        Thread.Sleep(200);
        Assert.False(d.Queues[0].TryTakeUsed(out _, out _));
        Assert.Equal(new byte[512], d.Ram.Read(b, 512));
        Assert.Equal(interrupts, d.Interrupt.QueueInterrupts(0));
        Assert.True(device.Drain(), "Drain must not wait for a held device");

        device.Resume();
        d.Drain();
        var (_, used) = d.Queues[0].TakeUsed();
        Assert.Equal(513u, used);
        Assert.Equal(_image.ReadAll().AsSpan(6 * 512, 512).ToArray(), d.Ram.Read(b, 512));
    }

    [Fact]
    public void Counters_count_bytes_and_requests_by_kind_and_failures()
    {
        using var d = Start();
        var counters = ((VirtioBlock)d.Device).Counters;
        ulong a = d.Ram.Alloc(1024);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeIn, 0, Buf.W(a, 512), Buf.W(a + 512, 512)).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeOut, 2, Buf.R(a, 512)).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(d, VirtioBlock.TypeFlush, 0).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(d, VirtioBlock.TypeIn, ImageBytes / 512, Buf.W(a, 512)).Status);
        Assert.Equal((1L, 1024L, 1L, 512L, 1L, 1L), (counters.ReadCount, counters.ReadBytes, counters.WriteCount,
            counters.WriteBytes, counters.FlushCount, counters.FailedCount));
    }
}
