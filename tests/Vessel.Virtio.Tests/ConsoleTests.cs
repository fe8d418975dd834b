using System.Text;
using Vessel.Virtio.Hvc;

namespace Vessel.Virtio.Tests;

public sealed class ConsoleTests
{
    private readonly List<byte> _output = [];

    private FakeDriver Start(int inputCapacity = VirtioConsole.DefaultInputCapacity)
    {
        var d = new FakeDriver(new VirtioConsole(data => { lock (_output) _output.AddRange(data.ToArray()); }, inputCapacity));
        d.Activate();
        return d;
    }

    private string Output { get { lock (_output) return Encoding.ASCII.GetString([.. _output]); } }

    [Fact]
    public void Guest_output_reaches_the_sink_in_order()
    {
        using var d = Start();
        var tx = d.Queues[VirtioConsole.TransmitQueue];
        ulong a = d.Ram.Alloc(16), b = d.Ram.Alloc(16);
        d.Ram.Memory.Write(a, "hello "u8);
        d.Ram.Memory.Write(b, "world\n"u8);
        tx.AddChain(Buf.R(a, 6), Buf.R(b, 3));
        tx.AddIndirectChain(d.Ram.Alloc(32), Buf.R(b + 3, 3));
        d.Kick(VirtioConsole.TransmitQueue);
        Assert.Equal("hello world\n", Output);
        Assert.Equal((0u, 0u), tx.TakeUsed());
        Assert.Equal((2u, 0u), tx.TakeUsed());
        Assert.True(d.Interrupt.QueueInterrupts(VirtioConsole.TransmitQueue) >= 1);
    }

    [Fact]
    public void Host_input_waits_for_receive_buffers_and_is_split_across_them()
    {
        using var d = Start();
        var device = (VirtioConsole)d.Device;
        var rx = d.Queues[VirtioConsole.ReceiveQueue];
        Assert.Equal(3, device.Receive("abc"u8));
        d.Drain();
        Assert.Equal(3, device.PendingInputCount);
        ulong a = d.Ram.Alloc(2), b = d.Ram.Alloc(8);
        rx.AddChain(Buf.W(a, 2));
        d.Kick(VirtioConsole.ReceiveQueue);
        Assert.Equal((0u, 2u), rx.TakeUsed());
        Assert.Equal("ab"u8.ToArray(), d.Ram.Read(a, 2));
        rx.AddChain(Buf.W(b, 8));
        d.Kick(VirtioConsole.ReceiveQueue);
        Assert.Equal((1u, 1u), rx.TakeUsed());
        Assert.Equal((byte)'c', d.Ram.Memory.ReadByte(b));
        // A buffer already waiting gets input as soon as it arrives.
        rx.AddChain(Buf.W(b, 8));
        d.Kick(VirtioConsole.ReceiveQueue);
        Assert.False(rx.TryTakeUsed(out _, out _));
        device.Receive("xyz"u8);
        d.Drain();
        Assert.Equal((2u, 3u), rx.TakeUsed());
        Assert.Equal("xyz"u8.ToArray(), d.Ram.Read(b, 3));
        Assert.Equal(0, device.PendingInputCount);
    }

    [Fact]
    public void A_full_input_buffer_refuses_more_until_the_guest_reads()
    {
        using var d = Start(inputCapacity: 8);
        var device = (VirtioConsole)d.Device;
        Assert.Equal(8, device.Receive("0123456789abcdef"u8));
        Assert.False(device.CanAcceptInput);
        Assert.Equal(0, device.Receive("z"u8));
        Assert.False(device.WaitForInputSpace(TimeSpan.FromMilliseconds(20)));
        ulong a = d.Ram.Alloc(5);
        d.Queues[0].AddChain(Buf.W(a, 5));
        d.Kick(VirtioConsole.ReceiveQueue);
        Assert.True(device.WaitForInputSpace(TimeSpan.FromSeconds(5)));
        Assert.True(device.CanAcceptInput);
        Assert.Equal(5, device.Receive("89abcdef"u8));
        Assert.Equal("01234"u8.ToArray(), d.Ram.Read(a, 5));
        Assert.Equal("56789abc"u8.ToArray(), device.State.PendingInput);
    }

    [Fact]
    public void A_receive_buffer_the_device_cannot_write_needs_a_reset()
    {
        using var d = Start();
        var device = (VirtioConsole)d.Device;
        device.Receive("q"u8);
        d.Queues[0].AddChain(Buf.R(d.Ram.Alloc(4), 4));
        d.Kick(VirtioConsole.ReceiveQueue);
        Assert.Contains("no device-writable", Assert.Single(d.Interrupt.Resets));
        Assert.True(device.NeedsReset);
    }

    [Fact]
    public void Config_reports_one_port()
    {
        using var d = Start();
        var config = new byte[12];
        d.Device.ReadConfig(0, config);
        Assert.Equal(1u, BitConverter.ToUInt32(config, 4));
    }
}
