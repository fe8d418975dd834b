using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class PcTestDevTests
{
    private readonly List<(int Line, bool Level)> _irqs = [];
    private readonly List<ulong> _flushed = [];
    private readonly PcTestDev _dev;

    public PcTestDevTests() => _dev = new PcTestDev((line, level) => _irqs.Add((line, level)), _flushed.Add);

    [Fact]
    public void ScratchPortAtE0KeepsEachWidth()
    {
        // realmode.c io tests: out/in of 1, 2 and 4 bytes at 0xe0.
        _dev.IoPort.Write(0, 1, 0xFF);
        Assert.Equal(0xFFu, _dev.IoPort.Read(0, 1));
        _dev.IoPort.Write(0, 2, 0xFFFF);
        Assert.Equal(0xFFFFu, _dev.IoPort.Read(0, 2));
        _dev.IoPort.Write(0, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFFFu, _dev.IoPort.Read(0, 4));
        // emulator.c: outw 0x9999, then byte reads (rep insb) all see the low byte.
        _dev.IoPort.Write(0, 2, 0x9999);
        Assert.Equal(0x99u, _dev.IoPort.Read(0, 1));
    }

    [Fact]
    public void PartialAccessesAddressBytesOfTheRegister()
    {
        _dev.IoPort.Write(0, 4, 0x1234_5678);
        Assert.Equal(0x34u, _dev.IoPort.Read(2, 1));
        Assert.Equal(0x1234u, _dev.IoPort.Read(2, 2));
        _dev.IoPort.Write(1, 1, 0xAB);
        Assert.Equal(0x1234_AB78u, _dev.Scratch);
    }

    [Fact]
    public void ByteWisePortAtE8SharesTheRegister()
    {
        _dev.IoPortByte.Write(0, 4, 0xAABB_CCDD);
        Assert.Equal(0xAABB_CCDDu, _dev.IoPort.Read(0, 4));
        Assert.Equal(0xBBCCu, _dev.IoPortByte.Read(1, 2));
        Assert.Equal(0xDDAA_BBCCu, _dev.IoPortByte.Read(1, 4));     // wraps within the register, as QEMU splits it
    }

    [Fact]
    public void IrqLinePortSetsGsiLevels()
    {
        // ioapic.c: set_irq_line(0x0e, 1); set_irq_line(0x0e, 0) -> outb to 0x200e.
        _dev.IrqLinePort.Write(0x0E, 1, 1);
        _dev.IrqLinePort.Write(0x0E, 1, 0);
        _dev.IrqLinePort.Write(0x17, 1, 0x80);
        _dev.IrqLinePort.Write(0x18, 1, 1);     // out of range
        _dev.IrqLinePort.Write(0x0E, 2, 1);     // byte accesses only
        Assert.Equal([(14, true), (14, false), (23, true)], _irqs);
        Assert.Equal(0u, _dev.IrqLinePort.Read(0x0E, 1));
    }

    [Fact]
    public void FlushPagePortPassesThePageAddress()
    {
        _dev.FlushPagePort.Write(0, 4, 0x0012_3456);
        _dev.FlushPagePort.Write(0, 1, 0x0012_3456);    // 32-bit only
        Assert.Equal([0x0012_3000ul], _flushed);
        Assert.Equal(0u, _dev.FlushPagePort.Read(0, 4));
    }

    [Fact]
    public void IoMemBehavesLikeLittleEndianRam()
    {
        _dev.IoMem.Write(0x100, 8, 0x0102_0304_0506_0708);
        Assert.Equal(0x08ul, _dev.IoMem.Read(0x100, 1));
        Assert.Equal(0x0506_0708ul, _dev.IoMem.Read(0x100, 4));
        Assert.Equal(0x0102ul, _dev.IoMem.Read(0x106, 2));
        _dev.IoMem.Write(0xFFFF, 1, 0x5A);
        Assert.Equal(0x5Aul, _dev.IoMem.Read(0xFFFF, 1));
    }

    [Fact]
    public void OutOfRangeIoMemAccessesAreHarmless()
    {
        Assert.Equal(0xFFFFul, _dev.IoMem.Read(0xFFFF, 2));
        Assert.Equal(ulong.MaxValue, _dev.IoMem.Read(0x1_0000, 8));
        Assert.Equal(ulong.MaxValue, _dev.IoMem.Read(ulong.MaxValue - 2, 8));
        _dev.IoMem.Write(0xFFFC, 8, ulong.MaxValue);
        _dev.IoMem.Write(0x10, 3, ulong.MaxValue);
        Assert.Equal(0ul, _dev.IoMem.Read(0xFFF8, 8));
        Assert.Equal(0ul, _dev.IoMem.Read(0x10, 4));
    }
}
