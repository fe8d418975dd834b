using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Vessel.Virtio.Net;

/// <summary>
/// Completes a checksum the guest left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM, offered as VIRTIO_NET_F_CSUM to a
/// backend that takes plain Ethernet frames): the guest wrote the pseudo-header's sum at csum_start + csum_offset
/// and skipped summing the payload, which the host does here much faster than the guest's CPU would. What Linux's
/// skb_checksum_help does for a device without checksum offload.
/// </summary>
public static class PartialChecksum
{
    /// <summary>Sums <paramref name="frame"/> from <paramref name="start"/> to its end and stores the folded
    /// complement at <paramref name="start"/> + <paramref name="offset"/>. False (frame untouched) when the field
    /// does not lie inside the frame.</summary>
    public static bool Complete(Span<byte> frame, int start, int offset)
    {
        if (start < 0 || offset < 0 || (long)start + offset + 2 > frame.Length)
            return false;
        ushort folded = Fold(Sum(frame[start..]));
        ushort result = (ushort)~folded;
        // A zero result is sent as all ones (a UDP checksum of 0 means none; for TCP the two are the same number).
        BinaryPrimitives.WriteUInt16LittleEndian(frame[(start + offset)..], result == 0 ? (ushort)0xffff : result);
        return true;
    }

    /// <summary>The ones'-complement sum of <paramref name="data"/> read as little-endian 16-bit words (so the result
    /// is stored little-endian too: the sum does not depend on byte order), not yet folded.</summary>
    private static ulong Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        var words = MemoryMarshal.Cast<byte, uint>(data);
        foreach (uint w in words)
            sum += w;
        int at = words.Length * 4;
        if (data.Length - at >= 2)
        {
            sum += BinaryPrimitives.ReadUInt16LittleEndian(data[at..]);
            at += 2;
        }
        if (at < data.Length)
            sum += data[at];
        return sum;
    }

    private static ushort Fold(ulong sum)
    {
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)sum;
    }
}
