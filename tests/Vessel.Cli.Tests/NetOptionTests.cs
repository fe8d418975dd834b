using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Vessel.Cli.Options;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;

namespace Vessel.Cli.Tests;

public class NetOptionTests
{
    [Fact]
    public void ParsesUserWithForwardsAndMac()
    {
        var o = NetOption.Parse("user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53,mac=52:54:00:aa:bb:cc");
        Assert.Equal(NetworkKind.User, o.Kind);
        Assert.Equal(new MacAddress(0x52, 0x54, 0, 0xaa, 0xbb, 0xcc), o.Mac);
        Assert.Equal([new HostForward(false, IPAddress.Loopback, 8080, 80), new HostForward(true, null, 5353, 53)], o.HostForwards);
        Assert.Equal("127.0.0.1/8080:80", o.HostForwards[0].PasstSpec);
        Assert.Equal("5353:53", o.HostForwards[1].PasstSpec);
    }

    [Fact]
    public void ParsesTap()
    {
        var o = NetOption.Parse("tap=vtap0,mac=02:00:00:00:00:01");
        Assert.Equal(NetworkKind.Tap, o.Kind);
        Assert.Equal("vtap0", o.TapName);
        Assert.Empty(o.HostForwards);
    }

    [Theory]
    [InlineData("bridge", "is not user")]
    [InlineData("tap=", "is not user")]
    [InlineData("user,mac=01:00:00:00:00:01", "not a unicast MAC")]
    [InlineData("user,mac=52:54:00:12:34", "not a unicast MAC")]
    [InlineData("user,mac=52:54:00:12:34:zz", "not a unicast MAC")]
    [InlineData("user,hostfwd=tcp:8080-:80", "HOSTADDR]:HOSTPORT")]
    [InlineData("user,hostfwd=tcp::8080:80", "no '-:GUESTPORT'")]
    [InlineData("user,hostfwd=sctp::1-:2", "must start with tcp: or udp:")]
    [InlineData("user,hostfwd=tcp::0-:80", "ports must be numbers")]
    [InlineData("user,hostfwd=tcp::70000-:80", "ports must be numbers")]
    [InlineData("user,hostfwd=tcp:nothost:1-:2", "is not an IP address")]
    [InlineData("tap=t0,hostfwd=tcp::1-:2", "is not mac=MAC")]
    [InlineData("user,speed=10", "is not hostfwd")]
    public void RefusesMalformedOptionsWithOneUsageLine(string text, string expected)
    {
        var result = CliRunner.Run("run", "--kernel", "k", "--net", text);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: --net", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void AHostPortAlreadyTakenIsOneLineAndLeavesNoPasstBehind()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--net", $"user,hostfwd=tcp:127.0.0.1:{port}-:80");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: --net user: passt exited at start-up (status 1)", line);
        Assert.Contains(port.ToString(), line);
        Assert.Equal(0, ChildProcesses.Named("passt"));
    }

    [Fact]
    public void AMissingPasstIsOneClearError()
    {
        var e = Assert.Throws<NetBackendException>(() =>
            PasstBackend.Start([], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "/nonexistent/passt"));
        Assert.Contains("cannot start /nonexistent/passt", e.Message);
    }

    /// <summary>kill -9 gives vessel no exit path: passt must still end (its end of the socketpair closes with the
    /// process), and no passt may be left behind.</summary>
    [Fact]
    public void PasstEndsWhenVesselIsKilledWithSigkill()
    {
        using var kernel = CliRunner.File(BootSectors.Sector([0xFA, 0xF4, 0xEB, 0xFD])); // cli; hlt; jmp $-1
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "vessel"),
            ["run", "--kernel", kernel.Path, "--backend", "emu", "--serial", "none", "--net", "user"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var vessel = Process.Start(start)!;
        int passt = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            while (passt == 0 && clock.Elapsed < TimeSpan.FromSeconds(60) && !vessel.HasExited)
            {
                var children = ChildProcesses.Of(vessel.Id, "passt");
                if (children.Count > 0) passt = children[0];
                else Thread.Sleep(50);
            }
            Assert.True(passt != 0, $"vessel started no passt: {(vessel.HasExited ? vessel.StandardError.ReadToEnd() : "still running")}");
        }
        finally
        {
            vessel.Kill(entireProcessTree: false);
            vessel.WaitForExit();
        }
        clock.Restart();
        while (!ChildProcesses.Exited(passt) && clock.Elapsed < TimeSpan.FromSeconds(20))
            Thread.Sleep(50);
        Assert.True(ChildProcesses.Exited(passt), $"passt (pid {passt}) outlived vessel's SIGKILL");
    }

    [Fact]
    public void AUserNetworkMachineStartsPasstAndStopsItWithTheVm()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--net", "user");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("", result.Stderr);
        Assert.Equal("hi", result.Stdout);
        Assert.Equal(0, ChildProcesses.Named("passt"));
    }
}

/// <summary>This process's live children named <c>name</c>, from /proc.</summary>
internal static class ChildProcesses
{
    public static int Named(string name) => Of(Environment.ProcessId, name).Count;

    /// <summary>The live (not zombie) children of <paramref name="parent"/> named <paramref name="name"/>.</summary>
    public static List<int> Of(int parent, string name)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int close = stat.LastIndexOf(')');
                string comm = stat[(stat.IndexOf('(') + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                // fields[0] is the state, fields[1] the parent's pid; a zombie (Z) has exited.
                // passt re-executes itself as passt.avx2 where the CPU has AVX2.
                bool named = comm == name || comm.StartsWith(name + ".", StringComparison.Ordinal);
                if (named && fields[0] != "Z" && int.Parse(fields[1]) == parent) found.Add(int.Parse(Path.GetFileName(dir)));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            catch (FormatException) { }
        }
        return found;
    }

    /// <summary>Whether <paramref name="pid"/> is gone (or a zombie: it has exited).</summary>
    public static bool Exited(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException) { return true; }
    }
}

public class VsockOptionTests
{
    [Theory]
    [InlineData("cid=2,uds=/tmp/x", "from 3")]
    [InlineData("cid=4294967295,uds=/tmp/x", "from 3")]
    [InlineData("cid=x,uds=/tmp/x", "is not a number")]
    [InlineData("cid=3", "needs both")]
    [InlineData("uds=/tmp/x", "needs both")]
    [InlineData("cid=3,uds=/tmp/x,port=1", "is not cid=N or uds=PATH")]
    public void RefusesMalformedOptionsWithOneUsageLine(string text, string expected)
    {
        var result = CliRunner.Run("run", "--kernel", "k", "--vsock", text);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: --vsock", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void AnExistingSocketPathIsOneLineAndIsLeftAlone()
    {
        using var existing = CliRunner.File([1, 2, 3]);
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--vsock", $"cid=3,uds={existing.Path}");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"vessel: --vsock uds={existing.Path}: the path already exists (a stale socket? remove it)", Assert.Single(result.StderrLines));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(existing.Path));
    }

    [Fact]
    public void TheSocketFileExistsWhileTheVmRunsAndIsRemovedAfter()
    {
        string uds = Path.Combine(Path.GetTempPath(), $"vessel-vsock-{Guid.NewGuid():N}.sock");
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--vsock", $"cid=3,uds={uds}");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("", result.Stderr);
        Assert.False(File.Exists(uds));
    }
}
