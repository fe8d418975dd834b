using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class DebugExitTests
{
    [Theory]
    [InlineData(1, 0x00u, 1)]
    [InlineData(1, 0x01u, 3)]
    [InlineData(4, 0x10u, 0x21)]
    [InlineData(2, 0x1_0001u, 3)]               // only the bits of the access width count
    public void WriteExitsWithShiftedStatus(int size, uint value, int expected)
    {
        var system = new RecordingSystemControl();
        new DebugExit(system).Write(0, size, value);
        Assert.Equal([expected], system.ExitStatuses);
    }

    [Fact]
    public void ReadsReturnAllOnes()
    {
        var device = new DebugExit(new RecordingSystemControl());
        Assert.Equal(0xFFu, device.Read(0, 1));
        Assert.Equal(0xFFFF_FFFFu, device.Read(0, 4));
    }
}
