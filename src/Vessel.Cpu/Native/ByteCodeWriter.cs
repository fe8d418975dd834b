using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>Collects the bytes Iced's encoder writes.</summary>
internal sealed class ByteCodeWriter : CodeWriter
{
    private readonly List<byte> _bytes = new(512);

    public override void WriteByte(byte value) => _bytes.Add(value);

    public byte[] ToArray() => _bytes.ToArray();
}
