using System.Diagnostics;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.Pty;

/// <summary>`vessel run` on a real pseudo-terminal, as a user's fingers drive it: keys reach the guest as typed,
/// the host never echoes, the control keys are bytes for the guest, Ctrl-A x quits at once, and the terminal's
/// settings are restored byte for byte on every way out. Start-up (the .NET runtime, the machine) is waited for
/// separately from what is timed.</summary>
[Collection(PtyCollection.Name)]
public class TerminalConsoleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartUp = TimeSpan.FromSeconds(60);
    /// <summary>How long a reply or an exit may take: ~0.1 s on a quiet machine, over 10 s seen at load 55.</summary>
    private static readonly TimeSpan Reply = TimeSpan.FromSeconds(60);

    private static VesselOnPty Start(byte[] kernel, out TempFile file)
    {
        file = CliRunner.File(kernel);
        var vessel = new VesselOnPty("run", "--kernel", file.Path, "--backend", "emu", "--memory", "16");
        vessel.WaitForReady(StartUp);
        return vessel;
    }

    private static void AssertExitedAndRestored(VesselOnPty vessel, int status)
    {
        Assert.True(vessel.WaitForExit(Reply), $"vessel did not exit; screen: {vessel.Terminal.Screen}");
        Assert.Equal(status, vessel.ExitCode);
        Assert.Equal(vessel.AttributesBefore, vessel.Terminal.Attributes());
    }

    [Fact]
    public void AKeystrokeReachesTheGuestBeforeAnyEnterAndIsNotEchoedByTheHost()
    {
        using var vessel = Start(ConsoleGuests.ByteReporter(), out var file);
        using var _ = file;
        int mark = vessel.Terminal.ScreenLength;
        vessel.Terminal.Type("a");
        Assert.True(vessel.Terminal.WaitFor("<61>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        vessel.Terminal.Type("q");
        Assert.True(vessel.Terminal.WaitFor("<71>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        // The guest's report is all there is: the host echoed neither key.
        Assert.Equal("<61><71>", vessel.Terminal.Screen[mark..]);
        vessel.Terminal.Type("\u0001x");
        AssertExitedAndRestored(vessel, 0);
    }

    [Fact]
    public void ControlKeysAreBytesForTheGuestAndTheVmGoesOn()
    {
        using var vessel = Start(ConsoleGuests.ByteReporter(), out var file);
        using var _ = file;
        int mark = vessel.Terminal.ScreenLength;
        vessel.Terminal.Type("\u0003");                 // Ctrl-C
        Assert.True(vessel.Terminal.WaitFor("<03>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        vessel.Terminal.Type("\u001a\u001c\u0011\u0013"); // Ctrl-Z, Ctrl-\, Ctrl-Q, Ctrl-S
        Assert.True(vessel.Terminal.WaitFor("<1a><1c><11><13>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        vessel.Terminal.Type("\u0001\u0001\r");          // Ctrl-A Ctrl-A is one Ctrl-A; CR stays CR
        Assert.True(vessel.Terminal.WaitFor("<01><0d>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        Assert.False(vessel.HasExited);
        vessel.Terminal.Type("\u0001h");
        Assert.True(vessel.Terminal.WaitFor("C-a x", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        vessel.Terminal.Type("E");                       // the guest ends itself: isa-debug-exit 2
        AssertExitedAndRestored(vessel, 5);
    }

    [Fact]
    public void CtrlABSendsABreakTheGuestSeesAsAZeroByte()
    {
        using var vessel = Start(ConsoleGuests.ByteReporter(), out var file);
        using var _ = file;
        int mark = vessel.Terminal.ScreenLength;
        vessel.Terminal.Type("\u0001b");
        Assert.True(vessel.Terminal.WaitFor("<00>", Reply, mark), $"screen: {vessel.Terminal.Screen}");
        vessel.Terminal.Type("\u0001x");
        AssertExitedAndRestored(vessel, 0);
    }

    public static TheoryData<string> QuitCases => ["idle", "flood"];

    /// <summary>Ctrl-A x ends vessel within 200 ms of the keystroke, with status 0, whether the guest sleeps or
    /// floods the terminal. The machines these tests share can be loaded far beyond their two cores, where one
    /// unlucky scheduling delay alone exceeds the bound: the quit gets three tries, and a quit that is slow by
    /// design (waiting on Enter, on a poll, on the output) fails all three.</summary>
    [Theory]
    [MemberData(nameof(QuitCases))]
    public void CtrlAXQuitsAtOnce(string guest)
    {
        var times = new List<double>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            using var vessel = Start(guest == "idle" ? ConsoleGuests.Idle() : ConsoleGuests.Flood(), out var file);
            using var _ = file;
            Thread.Sleep(300); // let a flood get going
            var clock = Stopwatch.StartNew();
            vessel.Terminal.Type("\u0001x");
            Assert.True(vessel.WaitForExit(Reply), "vessel did not exit");
            var quit = clock.Elapsed;
            Assert.Equal(0, vessel.ExitCode);
            Assert.Equal(vessel.AttributesBefore, vessel.Terminal.Attributes());
            times.Add(quit.TotalMilliseconds);
            output.WriteLine($"Ctrl-A x with the guest {guest}: exited after {quit.TotalMilliseconds:0} ms");
            if (quit < TimeSpan.FromMilliseconds(200)) return;
        }
        Assert.Fail($"Ctrl-A x took {string.Join(", ", times.Select(t => $"{t:0}"))} ms (bound: 200 ms)");
    }

    public static TheoryData<string, string, int> ExitPaths => new()
    {
        { "guest reset", "R", 0 },
        { "guest exit", "E", 5 },
        { "triple fault", "T", 0 },
    };

    [Theory]
    [MemberData(nameof(ExitPaths))]
    public void TheTerminalIsRestoredWhenTheGuestEnds(string path, string key, int status)
    {
        using var vessel = Start(ConsoleGuests.ByteReporter(), out var file);
        using var _ = file;
        Assert.NotEqual(vessel.AttributesBefore, vessel.Terminal.Attributes()); // raw while it runs
        vessel.Terminal.Type(key);
        Assert.True(vessel.WaitForExit(Reply), $"{path}: vessel did not exit");
        Assert.Equal(vessel.AttributesBefore, vessel.Terminal.Attributes());
        if (path != "triple fault") Assert.Equal(status, vessel.ExitCode);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("HUP")]
    public void TheTerminalIsRestoredOnASignal(string signal)
    {
        using var vessel = Start(ConsoleGuests.ByteReporter(), out var file);
        using var _ = file;
        vessel.Signal(signal);
        Assert.True(vessel.WaitForExit(Reply), $"SIG{signal}: vessel did not exit; screen: {vessel.Terminal.Screen}");
        Assert.Equal(vessel.AttributesBefore, vessel.Terminal.Attributes());
        Assert.Contains($"SIG{signal} received", vessel.Terminal.Screen);
    }
}

/// <summary>The pty tests time a quit to the millisecond: they run one at a time, not beside each other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PtyCollection
{
    public const string Name = "pseudo-terminal";
}

/// <summary>A VMM failure while the console is raw: in process, on a pseudo-terminal's slave, with a backend
/// that fails on demand. The failure is one line and the terminal's settings come back byte for byte.</summary>
[Collection(PtyCollection.Name)]
public class TerminalRestoredOnVmmFailureTests
{
    [Fact]
    public void AFailedVmRestoresTheTerminal()
    {
        using var kernel = CliRunner.File(ConsoleGuests.Flood());
        using var terminal = new PseudoTerminal();
        byte[] before = terminal.Attributes();
        var host = new CliHost
        {
            HandleSignals = false,
            StdinIsTerminal = true,
            StdinFd = terminal.Slave,
            CreateBackend = (_, tier, logger) => new FailingBackend(Backends.CreateEmu(tier, logger), runsBeforeFailing: 200),
        };
        int status = VesselCli.Run(["run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16"],
            new Cli.Console.FdInputStream(terminal.Slave), new Cli.Console.FdOutputStream(terminal.Slave),
            new Cli.Console.FdOutputStream(terminal.Slave), host);
        Assert.Equal(1, status);
        Assert.True(terminal.WaitFor("injected VMM failure", TimeSpan.FromSeconds(10)), terminal.Screen);
        Assert.Contains(ConsoleGuests.Ready, terminal.Screen);
        Assert.Equal(before, terminal.Attributes());
    }
}
