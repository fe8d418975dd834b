namespace Vessel.Cli.Tests;

/// <summary>Kernel and initrd files are read into images of their own, unmapped when disposed.</summary>
public class FileImageTests
{
    [Fact]
    public void A_file_read_into_an_image_has_its_bytes_and_leaves_the_process_when_disposed()
    {
        var bytes = new byte[3 * 4096 + 123];
        new Random(22).NextBytes(bytes);
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, bytes);
            FileImage image = InputFile.ReadImage("--initrd", path);
            Assert.Equal(bytes, image.Memory.ToArray());
            ulong address;
            unsafe
            {
                using var pin = image.Pin();
                address = (ulong)pin.Pointer;
            }
            Assert.True(IsMapped(address));

            image.Dispose();

            Assert.True(image.IsDisposed);
            Assert.False(IsMapped(address));
            Assert.Throws<ObjectDisposedException>(() => image.GetSpan());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_empty_file_is_an_empty_image()
    {
        string path = Path.GetTempFileName();
        try
        {
            using FileImage image = InputFile.ReadImage("--initrd", path);
            Assert.Equal(0, image.Length);
            Assert.True(image.Memory.IsEmpty);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static bool IsMapped(ulong address) => File.ReadAllLines("/proc/self/maps").Any(line =>
    {
        string[] range = line.Split(' ')[0].Split('-');
        return address >= Convert.ToUInt64(range[0], 16) && address < Convert.ToUInt64(range[1], 16);
    });
}
