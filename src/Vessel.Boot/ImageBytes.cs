using System.Buffers.Binary;

namespace Vessel.Boot;

/// <summary>Bounds-checked reads from a kernel file, whose every field is untrusted.</summary>
internal static class ImageBytes
{
    /// <summary>image[offset, offset+length), or a <see cref="BootImageException"/> naming <paramref name="what"/>.</summary>
    public static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> image, ulong offset, ulong length, string what)
    {
        if (!PhysicalRange.TryCreate(offset, length, out var r) || r.End > (ulong)image.Length)
            throw new BootImageException($"{what} (file offset 0x{offset:x}, 0x{length:x} bytes) extends beyond the end of the {image.Length}-byte file");
        return image.Slice((int)offset, (int)length);
    }

    public static ushort U16(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]);
    public static uint U32(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);
    public static ulong U64(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(bytes[offset..]);
}
