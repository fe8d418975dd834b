namespace Vessel.Devices;

/// <summary>The POST diagnostic port (0x80): firmware and kernels write progress codes, and Linux also writes it
/// merely to delay (outb_p). Remembers the last code; reads return all ones.</summary>
public sealed class PostCodePort : IPortDevice, IConcurrentDevice
{
    public const int PortCount = 1;

    private int _lastCode = -1;

    /// <summary>The low byte of the last value written, or null before any write.</summary>
    public byte? LastCode
    {
        get
        {
            var code = Volatile.Read(ref _lastCode);
            return code < 0 ? null : (byte)code;
        }
    }

    public uint Read(ushort offset, int size) => PortAccess.AllOnes(size);

    public void Write(ushort offset, int size, uint value)
    {
        if (size is 1 or 2 or 4)
            Volatile.Write(ref _lastCode, (int)(value & 0xFF));
    }
}
