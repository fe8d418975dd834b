namespace Vessel.Virtio.Net;

/// <summary>virtio-net feature bits and header layout (virtio 1.x, 5.1).</summary>
public static class NetFeatures
{
    public const ulong Csum = 1UL << 0, GuestCsum = 1UL << 1, Mtu = 1UL << 3, Mac = 1UL << 5;
    public const ulong GuestTso4 = 1UL << 7, GuestTso6 = 1UL << 8, GuestEcn = 1UL << 9;
    public const ulong HostTso4 = 1UL << 11, HostTso6 = 1UL << 12, HostEcn = 1UL << 13;
    public const ulong MergeableRxBuffers = 1UL << 15, Status = 1UL << 16;

    /// <summary>What a backend that carries a vnet header end to end (TAP) can take and give.</summary>
    public const ulong Offloads = Csum | GuestCsum | GuestTso4 | GuestTso6 | GuestEcn | HostTso4 | HostTso6 | HostEcn;

    /// <summary>struct virtio_net_hdr_v1 (VIRTIO_F_VERSION_1: always with num_buffers): flags, gso_type, hdr_len,
    /// gso_size, csum_start, csum_offset, num_buffers.</summary>
    public const int HeaderBytes = 12;
    public const int NumBuffersOffset = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the frame's checksum is partial (csum_start/csum_offset say where).</summary>
    public const byte HeaderNeedsChecksum = 1;

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV4 (gso_type, byte 1 of the header).</summary>
    public const byte GsoTcpV4 = 1;

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV6, and the ECN bit that may be or'ed into gso_type.</summary>
    public const byte GsoTcpV6 = 4, GsoEcn = 0x80;

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the frame's checksums were checked already (received frames only).</summary>
    public const byte HeaderDataValid = 2;

    /// <summary>The largest Ethernet frame (a 64 KiB GSO packet with its headers), without the vnet header.</summary>
    public const int MaxFrameBytes = 65550;

    public const ushort LinkUp = 1;
}
