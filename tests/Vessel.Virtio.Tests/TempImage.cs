namespace Vessel.Virtio.Tests;

/// <summary>A disk image file in the temp directory, deleted on dispose.</summary>
internal sealed class TempImage : IDisposable
{
    public TempImage(int bytes, Func<int, byte>? fill = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"vessel-virtio-{Guid.NewGuid():N}.img");
        var data = new byte[bytes];
        if (fill != null)
            for (int i = 0; i < bytes; i++)
                data[i] = fill(i);
        File.WriteAllBytes(Path, data);
    }

    public string Path { get; }

    public byte[] ReadAll() => File.ReadAllBytes(Path);

    public void Dispose() => File.Delete(Path);
}
