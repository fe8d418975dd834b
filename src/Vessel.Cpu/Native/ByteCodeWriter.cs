using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>Collects the bytes Iced's encoder writes, in a buffer reused from block to block.</summary>
internal sealed class ByteCodeWriter : CodeWriter
{
    private byte[] _bytes = new byte[4096];

    public int Length { get; private set; }

    public override void WriteByte(byte value)
    {
        if (Length == _bytes.Length) Array.Resize(ref _bytes, _bytes.Length * 2);
        _bytes[Length++] = value;
    }

    /// <summary>Appends <paramref name="length"/> bytes of <paramref name="source"/> from <paramref name="start"/>.</summary>
    public void Append(ByteCodeWriter source, int start, int length)
    {
        if (Length + length > _bytes.Length) Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + length));
        Array.Copy(source._bytes, start, _bytes, Length, length);
        Length += length;
    }

    public void Clear() => Length = 0;

    public byte[] ToArray() => _bytes.AsSpan(0, Length).ToArray();
}
