using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

/// <summary>A backend that records what the guest sends and injects frames as the host side would.</summary>
internal sealed class FakeNetBackend(bool vnetHeader = false, ushort mtu = 0, bool checksumsVerified = false) : INetBackend
{
    private readonly List<byte[]> _sent = [];
    private FrameRing? _ring;

    public string Description => "fake";
    public bool CarriesVnetHeader => vnetHeader;
    public ushort Mtu => mtu;
    public bool ChecksumsVerified => checksumsVerified;
    public ulong Offloads { get; private set; }
    public bool Disposed { get; private set; }
    public bool Fails { get; set; }

    public IReadOnlyList<byte[]> Sent { get { lock (_sent) return [.. _sent]; } }

    public void Start(FrameRing toGuest) => _ring = toGuest;

    public void SetOffloads(ulong negotiatedFeatures) => Offloads = negotiatedFeatures;

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (Fails) return false;
        lock (_sent) _sent.Add(frame.ToArray());
        return true;
    }

    /// <summary>Hands a frame to the device as the backend's reader thread would (waits while the ring is full).</summary>
    public bool Inject(byte[] frame) => _ring!.Write(frame);

    /// <summary>Hands a frame over only if the ring has room now (a reader that must keep draining its host side).</summary>
    public bool TryInject(byte[] frame) => _ring!.TryWrite(frame);

    public bool Aborted { get; private set; }

    public void Abort() => Aborted = true;

    public void Dispose() => Disposed = true;
}
