using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>The Debian guest with `--vsock` on the emu backend, in one boot: the guest's static `vsock` program
/// connects to the host (CID 2, port 5000 → the Unix socket PATH_5000) and sends 16 MiB while receiving 16 MiB; then
/// a host program connects to PATH with `CONNECT 6000`, reads `OK port`, and the same 16 MiB go both ways to a guest
/// `vsock listen 6000`. Every transfer is checked by MD5 on both sides; the socket file is gone after the VM.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public partial class VsockBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(15);
    private const string Marker = "VESSEL-GUEST-READY";
    private const int Size = 16 << 20;

    [Fact]
    public void SixteenMebibytesBothWaysInBothDirectionsOfConnection()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        string dir = Directory.CreateTempSubdirectory("vessel-vsock-").FullName;
        string uds = Path.Combine(dir, "v.sock");
        try
        {
            using var session = new GuestSession(
            [
                "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
                "--append", DefaultGuest.CommandLine, "--memory", "512M", "--vsock", $"cid=42,uds={uds}",
            ]);
            session.WaitFor(Marker, BootTimeout);
            session.WaitFor("# ", CommandTimeout);
            session.Run("dd if=/dev/urandom of=/tmp/up bs=1M count=16 2>/dev/null", TransferTimeout);
            string guestUp = Md5Of(session.Run("md5sum /tmp/up", TransferTimeout));

            // Guest → host connection.
            var down = Blob(1);
            using (var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                listener.Bind(new UnixDomainSocketEndPoint(uds + "_5000"));
                listener.Listen(1);
                string? hostGot = null;
                var host = new Thread(() =>
                {
                    using var s = listener.Accept();
                    hostGot = Exchange(s, down);
                });
                host.Start();
                string rc = session.Run("vsock connect 2 5000 < /tmp/up > /tmp/down; echo rc=$?", TransferTimeout);
                Assert.Contains("rc=0", rc);
                Assert.True(host.Join(TransferTimeout));
                Assert.Equal(guestUp, hostGot);
                Assert.Equal(Hex(MD5.HashData(down)), Md5Of(session.Run("md5sum /tmp/down", TransferTimeout)));
            }
            session.Run("rm /tmp/down", CommandTimeout);

            // Host → guest connection, Firecracker's way.
            var down2 = Blob(2);
            session.Run("(vsock listen 6000 < /tmp/up > /tmp/d2; echo lrc=$? > /tmp/lrc) &", CommandTimeout);
            string? got2 = null;
            for (int attempt = 0; got2 == null; attempt++)
            {
                Assert.True(attempt < 60, "the guest never accepted CONNECT 6000");
                using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                s.Connect(new UnixDomainSocketEndPoint(uds));
                s.Send("CONNECT 6000\n"u8.ToArray());
                string ok = ReadLine(s);
                if (!ok.StartsWith("OK ", StringComparison.Ordinal))
                {
                    Thread.Sleep(2000); // not listening yet: Vessel closed the socket after the guest's reset
                    continue;
                }
                output.WriteLine($"host connection answered '{ok}'");
                Assert.Matches(@"^OK \d+$", ok);
                got2 = Exchange(s, down2);
            }
            Assert.Equal(guestUp, got2);
            // The shell's "[1]+ Done (... echo lrc=$? ...)" notice can arrive with an answer: only a digit after
            // "lrc=" is the listener's status.
            string lrc = "";
            for (int i = 0; i < 60 && !ListenerStatus().IsMatch(lrc); i++)
            {
                lrc = session.Run("cat /tmp/lrc 2>/dev/null; echo .", CommandTimeout);
                if (!ListenerStatus().IsMatch(lrc)) Thread.Sleep(1000);
            }
            Assert.Equal("lrc=0", ListenerStatus().Match(lrc).Value);
            Assert.Equal(Hex(MD5.HashData(down2)), Md5Of(session.Run("md5sum /tmp/d2", TransferTimeout)));

            session.Type("reboot -f\n");
            Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
            Assert.Equal(0, session.ExitCode);
            Assert.False(File.Exists(uds), "the vsock socket file outlived the VM");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Sends <paramref name="toGuest"/> while reading the guest's bytes to EOF, and closes the sending side
    /// only then: as with Firecracker, the end of the host's stream closes the connection both ways, so a half-close
    /// while the guest is still writing would cut its writes short. Returns the MD5 of the guest's bytes.</summary>
    private static string Exchange(Socket s, byte[] toGuest)
    {
        using var guestDone = new ManualResetEventSlim();
        var sender = new Thread(() =>
        {
            s.Send(toGuest);
            guestDone.Wait(TransferTimeout);
            s.Shutdown(SocketShutdown.Send);
        });
        sender.Start();
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buffer = new byte[65536];
        int n;
        while ((n = s.Receive(buffer)) > 0) md5.AppendData(buffer, 0, n);
        guestDone.Set();
        sender.Join();
        return Hex(md5.GetHashAndReset());
    }

    private static string ReadLine(Socket s)
    {
        var line = new List<byte>();
        var one = new byte[1];
        try
        {
            while (s.Receive(one) == 1 && one[0] != '\n') line.Add(one[0]);
        }
        catch (SocketException) { }
        return System.Text.Encoding.ASCII.GetString([.. line]);
    }

    private static byte[] Blob(int seed)
    {
        var b = new byte[Size];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static string Hex(byte[] hash) => Convert.ToHexStringLower(hash);

    private static string Md5Of(string md5sumOutput)
    {
        var m = Md5Line().Match(md5sumOutput);
        Assert.True(m.Success, $"no md5sum in: {md5sumOutput}");
        return m.Groups[1].Value;
    }

    [GeneratedRegex(@"\b([0-9a-f]{32})\b")]
    private static partial Regex Md5Line();

    [GeneratedRegex(@"lrc=\d+")]
    private static partial Regex ListenerStatus();
}
