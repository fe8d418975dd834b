using System.Net.Sockets;
using System.Text;
using Vessel.Virtio.Vsock;

namespace Vessel.Virtio.Tests.Vsock;

public sealed class VsockTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void Config_space_holds_the_guest_cid_and_bad_options_are_one_line()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using (var guest = new FakeVsockGuest(path))
        {
            Span<byte> config = stackalloc byte[8];
            guest.Device.ReadConfig(0, config);
            Assert.Equal(FakeVsockGuest.Cid, BitConverter.ToUInt64(config));
            Assert.True(File.Exists(path));
            var e = Assert.Throws<VsockException>(() => new VirtioVsock(new VsockOptions(9, path)));
            Assert.Contains("already exists", e.Message);
        }
        Assert.False(File.Exists(path), "the socket file is removed with the device");
        Assert.Contains("from 3", Assert.Throws<VsockException>(() => new VirtioVsock(new VsockOptions(2, path))).Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_guest_connection_reaches_the_listener_at_path_port_and_carries_bytes_both_ways()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_5000");
        using var guest = new FakeVsockGuest(path);

        guest.Send(VsockOp.Request, 1234, 5000);
        using var host = listener.Accept();
        host.ReceiveTimeout = 10_000;
        var response = guest.Expect(VsockOp.Response).Header;
        Assert.Equal((5000u, 1234u), (response.SourcePort, response.DestinationPort));
        Assert.Equal((uint)VsockConnection_BufferAllocation, response.BufferAllocation);

        var up = Pattern(100_000, 1);
        for (int at = 0; at < up.Length; at += 30_000)
            guest.Send(VsockOp.ReadWrite, 1234, 5000, up.AsSpan(at, Math.Min(30_000, up.Length - at)));
        Assert.Equal(up, UnixSockets.ReadExactly(host, up.Length));

        var down = Pattern(50_000, 2);
        host.Send(down);
        Assert.Equal(down, guest.ReadStream(down.Length));

        guest.Send(VsockOp.Shutdown, 1234, 5000, flags: VsockHeader.ShutdownReceive | VsockHeader.ShutdownSend);
        guest.Expect(VsockOp.Reset);
        Assert.Equal(0, host.Receive(new byte[1]));
        Assert.Equal(0, guest.Device.ConnectionCount);
    }

    private const int VsockConnection_BufferAllocation = 256 * 1024;

    [Fact]
    public void A_host_connect_line_asks_the_guest_and_its_answer_is_ok_with_the_host_port()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var guest = new FakeVsockGuest(path);
        using var host = UnixSockets.Connect(path);
        host.Send("CONNECT 52\n"u8.ToArray());
        var request = guest.Expect(VsockOp.Request).Header;
        Assert.Equal(52u, request.DestinationPort);
        guest.Send(VsockOp.Response, 52, request.SourcePort);
        Assert.Equal($"OK {request.SourcePort}", UnixSockets.ReadLine(host));

        var down = Pattern(20_000, 3);
        host.Send(down);
        Assert.Equal(down, guest.ReadStream(down.Length));
        guest.Send(VsockOp.ReadWrite, 52, request.SourcePort, "pong"u8);
        Assert.Equal("pong", Encoding.ASCII.GetString(UnixSockets.ReadExactly(host, 4)));

        // The host closes: the guest hears a shutdown, answers with a reset, and the stream is gone.
        host.Shutdown(SocketShutdown.Both);
        var shutdown = guest.Expect(VsockOp.Shutdown).Header;
        Assert.Equal(VsockHeader.ShutdownReceive | VsockHeader.ShutdownSend, shutdown.Flags);
        guest.Send(VsockOp.Reset, 52, request.SourcePort);
        Assert.Equal(0, guest.Device.ConnectionCount);
    }

    [Fact]
    public void Nobody_listening_at_path_port_is_a_reset_and_a_bad_connect_line_is_closed()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var guest = new FakeVsockGuest(path);
        guest.Send(VsockOp.Request, 1, 9999);
        var reset = guest.Expect(VsockOp.Reset).Header;
        Assert.Equal((9999u, 1u), (reset.SourcePort, reset.DestinationPort));

        using var host = UnixSockets.Connect(path);
        host.Send("HELLO 1\n"u8.ToArray());
        Assert.Equal(0, host.Receive(new byte[1]));
        Assert.Null(guest.Receive(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public void The_host_sends_no_more_than_the_guest_credit_and_continues_after_a_credit_update()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_7");
        using var guest = new FakeVsockGuest(path) { BufferAllocation = 3000 };
        guest.Send(VsockOp.Request, 40, 7);
        using var host = listener.Accept();
        guest.Expect(VsockOp.Response);
        var down = Pattern(10_000, 4);
        host.Send(down);
        var first = guest.ReadStream(3000, updateCredit: false);
        Assert.Equal(3000, first.Length);
        Assert.Null(guest.Receive(TimeSpan.FromMilliseconds(300)));
        guest.BufferAllocation = 3000;
        guest.Send(VsockOp.CreditUpdate, 40, 7);
        var rest = guest.ReadStream(7000);
        Assert.Equal(down, first.Concat(rest).ToArray());
    }

    [Fact]
    public void A_guest_that_sends_past_the_credit_it_was_given_is_reset_not_buffered()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_8");
        using var guest = new FakeVsockGuest(path);
        guest.Send(VsockOp.Request, 41, 8);
        using var host = listener.Accept(); // and never reads
        guest.Expect(VsockOp.Response);
        var chunk = new byte[60_000];
        for (int i = 0; i < 4; i++)
            guest.Send(VsockOp.ReadWrite, 41, 8, chunk);
        // 240 000 bytes may sit in Vessel (or the socket); the next 60 000 go past 256 KiB unless the host has read.
        for (int i = 0; i < 10 && guest.Device.ConnectionCount == 1; i++)
            guest.Send(VsockOp.ReadWrite, 41, 8, chunk);
        Assert.Equal(0, guest.Device.ConnectionCount);
        var p = guest.Receive(TimeSpan.FromSeconds(10));
        while (p is { Header.Op: not VsockOp.Reset }) p = guest.Receive(TimeSpan.FromSeconds(10));
        Assert.Equal(VsockOp.Reset, p!.Value.Header.Op);
    }

    [Fact]
    public void Packets_not_from_the_guest_cid_or_not_to_the_host_are_dropped()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_5");
        using var guest = new FakeVsockGuest(path);
        var raw = new byte[VsockHeader.Size];
        new VsockHeader { SourceCid = 99, DestinationCid = 2, SourcePort = 1, DestinationPort = 5, Type = 1, Op = VsockOp.Request }.Write(raw);
        ulong a = guest.Driver.Ram.Alloc(64);
        guest.Driver.Ram.Memory.Write(a, raw);
        guest.Driver.Queues[VirtioVsock.TransmitQueue].AddChain(Buf.R(a, VsockHeader.Size));
        guest.Driver.Queues[VirtioVsock.TransmitQueue].AddChain(Buf.R(a, 10)); // shorter than a header
        guest.Driver.Kick(VirtioVsock.TransmitQueue);
        Assert.Null(guest.Receive(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(0, guest.Device.ConnectionCount);
        Assert.Empty(guest.Driver.Interrupt.Resets);
    }

    [Fact]
    public void A_listener_that_never_accepts_gets_resets_once_its_backlog_is_full_and_the_device_keeps_serving()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_6"); // backlog 4, never accepted
        using var guest = new FakeVsockGuest(path);
        int responses = 0, resets = 0;
        for (uint port = 100; port < 120; port++)
        {
            guest.Send(VsockOp.Request, port, 6);
            var reply = guest.Receive(TimeSpan.FromSeconds(10));
            Assert.True(reply.HasValue, $"no answer to the request from port {port}: the worker stalled");
            if (reply.Value.Header.Op == VsockOp.Response) responses++;
            else if (reply.Value.Header.Op == VsockOp.Reset) resets++;
        }
        Assert.True(resets > 0, "a full backlog should refuse");
        Assert.Equal(20, responses + resets);
    }
}
