using System.Text;
using Vessel.Devices;

namespace Vessel.Testing;

/// <summary>Records every access; reads return <see cref="ReadValue"/>.</summary>
public sealed class RecordingPortDevice(uint readValue = 0) : IPortDevice
{
    public uint ReadValue { get; set; } = readValue;
    public List<(string Op, ushort Offset, int Size, uint Value)> Accesses { get; } = [];

    public uint Read(ushort offset, int size)
    {
        Accesses.Add(("r", offset, size, ReadValue));
        return ReadValue;
    }

    public void Write(ushort offset, int size, uint value) => Accesses.Add(("w", offset, size, value));
}

public sealed class RecordingMmioDevice(ulong readValue = 0) : IMmioDevice
{
    public List<(string Op, ulong Offset, int Size, ulong Value)> Accesses { get; } = [];

    public ulong Read(ulong offset, int size)
    {
        Accesses.Add(("r", offset, size, readValue));
        return readValue;
    }

    public void Write(ulong offset, int size, ulong value) => Accesses.Add(("w", offset, size, value));
}

/// <summary>A transmit-only serial port: every byte written at offset 0 goes to <see cref="Output"/>.</summary>
public sealed class TestSerial : IPortDevice
{
    public StringBuilder Output { get; } = new();
    public List<byte> Received { get; } = [];
    public uint Read(ushort offset, int size) => 0;
    public void Write(ushort offset, int size, uint value)
    {
        if (offset == 0) Output.Append((char)(byte)value);
    }
    public void Receive(ReadOnlySpan<byte> bytes) => Received.AddRange(bytes);
}

/// <summary>isa-debug-exit: a write of v ends the VM with (v &lt;&lt; 1) | 1.</summary>
public sealed class TestDebugExit(ISystemControl control) : IPortDevice
{
    public uint Read(ushort offset, int size) => 0xFFFF_FFFF;
    public void Write(ushort offset, int size, uint value) => control.RequestExit((int)((value << 1) | 1));
}

public sealed class ThrowingPortDevice : IPortDevice
{
    public uint Read(ushort offset, int size) => throw new InvalidOperationException("device bug");
    public void Write(ushort offset, int size, uint value) => throw new InvalidOperationException("device bug");
}

/// <summary>Counts writes, safe to read from the test thread.</summary>
public sealed class CountingPortDevice : IPortDevice
{
    private long _writes;
    public long Writes => Interlocked.Read(ref _writes);
    public uint Read(ushort offset, int size) => 0;
    public void Write(ushort offset, int size, uint value) => Interlocked.Increment(ref _writes);
}
