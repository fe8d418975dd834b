using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class PostCodePortTests
{
    [Fact]
    public void RemembersTheLastCode()
    {
        var port = new PostCodePort();
        Assert.Null(port.LastCode);
        port.Write(0, 1, 0x42);
        port.Write(0, 1, 0xAB);
        Assert.Equal((byte)0xAB, port.LastCode);
        Assert.Equal(0xFFu, port.Read(0, 1));
    }
}
