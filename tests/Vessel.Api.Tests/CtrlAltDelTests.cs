namespace Vessel.Api.Tests;

/// <summary>PUT /actions SendCtrlAltDel types Ctrl-Alt-Del on the i8042, as Firecracker does.</summary>
public sealed class CtrlAltDelTests
{
    [Fact]
    public async Task GuestReadsCtrlAltDelFromTheKeyboardController()
    {
        using var vessel = new VesselProcess();
        string kernel = vessel.File("kernel.elf", CounterGuest.ScancodeReader());
        await vessel.Expect204("PUT", "/boot-source", $$"""{"kernel_image_path": "{{kernel}}"}""");
        var (status, body) = await vessel.Send("PUT", "/actions", """{"action_type": "SendCtrlAltDel"}""");
        Assert.Equal(400, status);
        Assert.Contains("before starting", VesselProcess.FaultOf(body));

        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Contains("ready\n"), TimeSpan.FromSeconds(30)), vessel.Error);
        await vessel.Expect204("PUT", "/actions", """{"action_type": "SendCtrlAltDel"}""");
        Assert.Equal((0x21 << 1) | 1, vessel.WaitForExit(TimeSpan.FromSeconds(30)));
        // Ctrl, Alt, Delete (E0-prefixed) pressed, then released: set 1, as the controller translates by default.
        Assert.Equal("ready\n1d 38 e0 53 e0 d3 b8 9d ", vessel.Output);
    }
}
