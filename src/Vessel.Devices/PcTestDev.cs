using System.Buffers.Binary;

namespace Vessel.Devices;

/// <summary>
/// QEMU's pc-testdev, as kvm-unit-tests uses it. Each piece is a separate bus device at a fixed address:
/// <list type="bullet">
/// <item><see cref="IoPort"/> at 0xe0 (4 ports): a 32-bit scratch register; an access of n bytes at offset k
/// reads or writes its bytes k..k+n-1 (within the register).</item>
/// <item><see cref="FlushPagePort"/> at 0xe4 (4 ports): a 32-bit write names a guest-physical page whose
/// cached translations the VMM must drop (QEMU re-protects the host page); reads give 0.</item>
/// <item><see cref="IoPortByte"/> at 0xe8 (4 ports): the same scratch register, accessed one byte at a time.</item>
/// <item><see cref="IrqLinePort"/> at 0x2000 (24 ports): a byte write to 0x2000 + n sets GSI n to (value != 0);
/// reads give 0.</item>
/// <item><see cref="IoMem"/> at guest-physical 0xff000000: 64 KiB of RAM-like MMIO.</item>
/// </list>
/// Thread-safe.
/// </summary>
public sealed class PcTestDev
{
    public const ushort IoPortLength = 4, FlushPageLength = 4, IoPortByteLength = 4, IrqLineCount = 24;
    public const ulong IoMemLength = 0x1_0000;

    private readonly object _lock = new();
    private readonly Action<int, bool> _setIrqLine;
    private readonly Action<ulong>? _flushPage;
    private uint _scratch;

    /// <param name="setIrqLine">Sets the level of a GSI (0-23).</param>
    /// <param name="flushPage">Called with the guest-physical page address (4 KiB aligned) to flush.</param>
    public PcTestDev(Action<int, bool> setIrqLine, Action<ulong>? flushPage = null)
    {
        _setIrqLine = setIrqLine;
        _flushPage = flushPage;
        IoPort = new ScratchPort(this, byteWise: false);
        IoPortByte = new ScratchPort(this, byteWise: true);
        FlushPagePort = new FlushPage(this);
        IrqLinePort = new IrqLines(this);
        IoMem = new RamWindow(checked((int)IoMemLength));
    }

    public IPortDevice IoPort { get; }
    public IPortDevice FlushPagePort { get; }
    public IPortDevice IoPortByte { get; }
    public IPortDevice IrqLinePort { get; }
    public IMmioDevice IoMem { get; }

    /// <summary>The current value of the scratch register behind 0xe0 and 0xe8.</summary>
    public uint Scratch
    {
        get { lock (_lock) return _scratch; }
    }

    private uint ReadScratch(int offset, int size)
    {
        var start = (offset & 3) * 8;
        var mask = (uint.MaxValue >> (32 - size * 8)) << start;
        lock (_lock)
            return (_scratch & mask) >> start;
    }

    private void WriteScratch(int offset, int size, uint value)
    {
        var start = (offset & 3) * 8;
        var mask = (uint.MaxValue >> (32 - size * 8)) << start;
        lock (_lock)
            _scratch = (_scratch & ~mask) | ((value << start) & mask);
    }

    private sealed class ScratchPort(PcTestDev device, bool byteWise) : IPortDevice
    {
        public uint Read(ushort offset, int size)
        {
            if (offset >= IoPortLength || size is not (1 or 2 or 4))
                return PortAccess.AllOnes(size);
            if (!byteWise)
                return device.ReadScratch(offset, size);
            uint value = 0;
            for (var i = 0; i < size; i++)
                value |= device.ReadScratch(offset + i, 1) << (i * 8);
            return value;
        }

        public void Write(ushort offset, int size, uint value)
        {
            if (offset >= IoPortLength || size is not (1 or 2 or 4))
                return;
            if (!byteWise)
            {
                device.WriteScratch(offset, size, value);
                return;
            }
            for (var i = 0; i < size; i++)
                device.WriteScratch(offset + i, 1, (value >> (i * 8)) & 0xFF);
        }
    }

    private sealed class FlushPage(PcTestDev device) : IPortDevice
    {
        public uint Read(ushort offset, int size) => offset == 0 && size == 4 ? 0u : PortAccess.AllOnes(size);

        public void Write(ushort offset, int size, uint value)
        {
            if (offset == 0 && size == 4)
                device._flushPage?.Invoke(value & ~0xFFFul);
        }
    }

    private sealed class IrqLines(PcTestDev device) : IPortDevice
    {
        public uint Read(ushort offset, int size) =>
            offset < IrqLineCount && size == 1 ? 0u : PortAccess.AllOnes(size);

        public void Write(ushort offset, int size, uint value)
        {
            if (offset < IrqLineCount && size == 1)
                device._setIrqLine(offset, (value & 0xFF) != 0);
        }
    }

    private sealed class RamWindow(int length) : IMmioDevice
    {
        private readonly byte[] _bytes = new byte[length];

        public ulong Read(ulong offset, int size)
        {
            if (!Valid(offset, size))
                return size is > 0 and < 8 ? (1ul << (size * 8)) - 1 : ulong.MaxValue;
            var span = _bytes.AsSpan((int)offset, size);
            lock (_bytes)
            {
                return size switch
                {
                    1 => span[0],
                    2 => BinaryPrimitives.ReadUInt16LittleEndian(span),
                    4 => BinaryPrimitives.ReadUInt32LittleEndian(span),
                    _ => BinaryPrimitives.ReadUInt64LittleEndian(span),
                };
            }
        }

        public void Write(ulong offset, int size, ulong value)
        {
            if (!Valid(offset, size))
                return;
            var span = _bytes.AsSpan((int)offset, size);
            lock (_bytes)
            {
                switch (size)
                {
                    case 1: span[0] = (byte)value; break;
                    case 2: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value); break;
                    case 4: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value); break;
                    default: BinaryPrimitives.WriteUInt64LittleEndian(span, value); break;
                }
            }
        }

        private bool Valid(ulong offset, int size) =>
            size is 1 or 2 or 4 or 8 && offset < (ulong)_bytes.Length && (ulong)_bytes.Length - offset >= (ulong)size;
    }
}
