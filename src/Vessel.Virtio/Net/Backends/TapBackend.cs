using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Vessel.Virtio.Net.Backends;

/// <summary>
/// An existing TAP device (`--net tap=NAME`), opened through /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and
/// a 12-byte vnet header, so checksum and segmentation offloads pass between the guest and the host kernel untouched.
/// Vessel never creates the device (TUNSETIFF would, for a name that does not exist: the name is checked first),
/// never creates bridges and never touches routes. One read or write is one frame.
/// </summary>
public sealed unsafe partial class TapBackend : INetBackend
{
    private const nuint TUNSETIFF = 0x400454ca, TUNSETOFFLOAD = 0x400454d0, TUNSETVNETHDRSZ = 0x400454d8;
    private const short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    private const uint TUN_F_CSUM = 1, TUN_F_TSO4 = 2, TUN_F_TSO6 = 4, TUN_F_TSO_ECN = 8;
    private const int IfNameSize = 16, PollMs = 200;

    private readonly int _fd;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly byte[] _receiveBuffer = new byte[NetFeatures.HeaderBytes + NetFeatures.MaxFrameBytes];
    private Thread? _reader;
    private FrameRing? _ring;
    private volatile bool _disposed;
    private volatile bool _sendFailed;

    private TapBackend(int fd, string name, ILogger logger)
    {
        _fd = fd;
        _name = name;
        _logger = logger;
    }

    public string Description => $"tap {_name}";

    public bool CarriesVnetHeader => true;

    /// <summary>The TAP's MTU is set on the host side; the guest sets its own to match.</summary>
    public ushort Mtu => 0;

    /// <summary>Checksum state travels in the vnet header the kernel fills.</summary>
    public bool ChecksumsVerified => false;

    /// <summary>Attaches to TAP device <paramref name="name"/>; throws <see cref="NetBackendException"/> with one line.</summary>
    public static TapBackend Open(string name, ILogger logger)
    {
        if (name.Length >= IfNameSize || name.Contains('/') || name is "." or "..")
            throw new NetBackendException($"--net tap={name}: not a network interface name (at most 15 characters, no '/')");
        // Looked up in the caller's network namespace (/sys shows the one it was mounted in).
        if (NetHostCalls.if_nametoindex(name) == 0)
            throw new NetBackendException($"--net tap={name}: no such network interface (create it first, e.g. ip tuntap add {name} mode tap)");
        int fd = NetHostCalls.open("/dev/net/tun", NetHostCalls.O_RDWR | NetHostCalls.O_CLOEXEC);
        if (fd < 0)
            throw new NetBackendException($"--net tap={name}: cannot open /dev/net/tun: {Errno()}");
        try
        {
            byte* ifreq = stackalloc byte[40];
            new Span<byte>(ifreq, 40).Clear();
            Encoding.ASCII.GetBytes(name, new Span<byte>(ifreq, IfNameSize));
            *(short*)(ifreq + IfNameSize) = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
            if (NetHostCalls.ioctl(fd, TUNSETIFF, ifreq) != 0)
                throw new NetBackendException($"--net tap={name}: cannot attach to it as a TAP device: {Errno()} (not a TAP, in use, or owned by another user?)");
            int headerSize = NetFeatures.HeaderBytes;
            if (NetHostCalls.ioctl(fd, TUNSETVNETHDRSZ, &headerSize) != 0)
                throw new NetBackendException($"--net tap={name}: TUNSETVNETHDRSZ failed: {Errno()}");
            // No offloads towards the guest until its driver has said which it takes.
            if (NetHostCalls.ioctl(fd, TUNSETOFFLOAD, 0) != 0)
                throw new NetBackendException($"--net tap={name}: TUNSETOFFLOAD failed: {Errno()}");
            return new TapBackend(fd, name, logger);
        }
        catch
        {
            NetHostCalls.close(fd);
            throw;
        }
    }

    private static string Errno()
    {
        int errno = Marshal.GetLastPInvokeError();
        return $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
    }

    public void Start(FrameRing toGuest)
    {
        _ring = toGuest;
        _reader = new Thread(ReadFrames) { IsBackground = true, Name = $"tap {_name} reader" };
        _reader.Start();
    }

    /// <summary>The guest's receive offloads become the TAP's: the kernel then hands it partial checksums and
    /// unsegmented TCP.</summary>
    public void SetOffloads(ulong negotiatedFeatures)
    {
        uint flags = 0;
        if ((negotiatedFeatures & NetFeatures.GuestCsum) != 0)
        {
            flags |= TUN_F_CSUM;
            if ((negotiatedFeatures & NetFeatures.GuestTso4) != 0) flags |= TUN_F_TSO4;
            if ((negotiatedFeatures & NetFeatures.GuestTso6) != 0) flags |= TUN_F_TSO6;
            if ((negotiatedFeatures & NetFeatures.GuestEcn) != 0) flags |= TUN_F_TSO_ECN;
        }
        if (NetHostCalls.ioctl(_fd, TUNSETOFFLOAD, flags) != 0)
            LogOffloadFailed(_logger, _name, flags, Errno());
    }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (_disposed || _sendFailed)
            return false;
        fixed (byte* p = frame)
        {
            while (true)
            {
                nint n = NetHostCalls.write(_fd, p, frame.Length);
                if (n >= 0) return true;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == NetHostCalls.EINTR) continue;
                // EIO: the interface is down (no carrier); the frame is lost, as on a real cable.
                if (errno == 5) return false;
                _sendFailed = true;
                LogTapFailed(_logger, _name, Errno());
                return false;
            }
        }
    }

    /// <summary>TAP writes never wait for a reader; this only makes later sends fail fast.</summary>
    public void Abort() => _sendFailed = true;

    private void ReadFrames()
    {
        var ring = _ring!;
        NetHostCalls.PollFd poll = new() { Fd = _fd, Events = NetHostCalls.POLLIN };
        fixed (byte* buffer = _receiveBuffer)
        {
            while (!_disposed)
            {
                poll.Revents = 0;
                int ready = NetHostCalls.poll(&poll, 1, PollMs);
                if (ready <= 0)
                    continue;
                nint n = NetHostCalls.read(_fd, buffer, _receiveBuffer.Length);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is NetHostCalls.EINTR or NetHostCalls.EAGAIN) continue;
                    if (!_disposed) LogTapFailed(_logger, _name, Errno());
                    return;
                }
                if (n > NetFeatures.HeaderBytes)
                    ring.Write(_receiveBuffer.AsSpan(0, (int)n));
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _ring?.Close();
        _reader?.Join();
        NetHostCalls.close(_fd);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "tap {Name}: TUNSETOFFLOAD 0x{Flags:x} failed: {Error}; the guest gets no offloaded frames")]
    private static partial void LogOffloadFailed(ILogger logger, string name, uint flags, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "tap {Name}: {Error}: the guest's network is down")]
    private static partial void LogTapFailed(ILogger logger, string name, string error);
}
