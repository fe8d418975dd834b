using Vessel.Virtio.Block;

namespace Vessel.Virtio.Tests;

public sealed unsafe class DiskImageTests
{
    [Fact]
    public void Vector_reads_and_writes_fill_every_buffer_in_order()
    {
        using var file = new TempImage(8192, i => (byte)i);
        using var image = DiskImage.Open(file.Path, readOnly: false);
        byte[] a = new byte[3], c = new byte[5];
        fixed (byte* pa = a, pc = c)
        {
            IoVector[] v = [new() { Base = (nint)pa, Length = 3 }, new() { Base = 0, Length = 0 }, new() { Base = (nint)pc, Length = 5 }];
            Assert.True(image.TryReadVector(v, 100));
            Assert.Equal(new byte[] { 100, 101, 102 }, a);
            Assert.Equal(new byte[] { 103, 104, 105, 106, 107 }, c);
            a.AsSpan().Fill(0xAA);
            c.AsSpan().Fill(0xBB);
            IoVector[] w = [new() { Base = (nint)pa, Length = 3 }, new() { Base = (nint)pc, Length = 5 }];
            Assert.True(image.TryWriteVector(w, 4000));
        }
        Assert.Equal(new byte[] { 0xAA, 0xAA, 0xAA, 0xBB, 0xBB, 0xBB, 0xBB, 0xBB }, file.ReadAll().AsSpan(4000, 8).ToArray());
    }

    [Fact]
    public void A_read_beyond_a_file_that_shrank_fails_instead_of_spinning()
    {
        using var file = new TempImage(8192);
        using var image = DiskImage.Open(file.Path, readOnly: false);
        using (var f = new FileStream(file.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            f.SetLength(4096);
        var buffer = new byte[1024];
        fixed (byte* p = buffer)
        {
            IoVector[] v = [new() { Base = (nint)p, Length = 1024 }];
            Assert.False(image.TryReadVector(v, 3584)); // 512 bytes, then end of file
        }
        Assert.False(image.TryRead(buffer, 6000));
    }

    [Fact]
    public void A_read_only_image_refuses_writes()
    {
        using var file = new TempImage(4096, _ => 7);
        using var image = DiskImage.Open(file.Path, readOnly: true);
        Assert.False(image.TryWrite(new byte[16], 0));
        Assert.False(image.TryPunchHole(0, 4096, mustZero: true));
        Assert.True(image.TryFlush());
        Assert.All(file.ReadAll(), x => Assert.Equal(7, x));
    }
}
