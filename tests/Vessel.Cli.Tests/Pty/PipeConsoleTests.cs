using System.Diagnostics;
using System.Text;

namespace Vessel.Cli.Tests.Pty;

/// <summary>The real `vessel` executable with its console on pipes: bytes pass untouched (no escapes: Ctrl-A x
/// is two bytes for the guest) and SIGINT stops the VM cleanly.</summary>
[Collection(PtyCollection.Name)]
public class PipeConsoleTests
{
    [Fact]
    public void BytesPassUntouchedAndSigintStopsTheVm()
    {
        using var kernel = CliRunner.File(ConsoleGuests.ByteReporter());
        // env (which execs vessel: the pid is vessel's) resets SIGINT to its default: a test host started as a
        // background job of a script inherits SIGINT ignored, which survives exec and which .NET leaves ignored.
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])["--default-signal=HUP,INT,TERM", Path.Combine(AppContext.BaseDirectory, "vessel"),
                     "run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16"])
            start.ArgumentList.Add(arg);
        using var vessel = Process.Start(start)!;
        var screen = new StringBuilder();
        var output = new Thread(() =>
        {
            var buffer = new char[256];
            int n;
            while ((n = vessel.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                lock (screen) screen.Append(buffer, 0, n);
        }) { IsBackground = true };
        output.Start();
        string Screen() { lock (screen) return screen.ToString(); }
        bool WaitFor(string text)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!Screen().Contains(text, StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline) return false;
                Thread.Sleep(10);
            }
            return true;
        }
        try
        {
            Assert.True(WaitFor(ConsoleGuests.Ready), Screen());
            vessel.StandardInput.Write("\u0001x\u0003");
            vessel.StandardInput.Flush();
            Assert.True(WaitFor("<01><78><03>"), Screen());
            using (var kill = Process.Start("kill", ["-INT", vessel.Id.ToString()])!) kill.WaitForExit();
            Assert.True(vessel.WaitForExit(60_000), "SIGINT did not stop vessel"); // ~0.1 s; over 10 s at load 55
            Assert.Equal(0, vessel.ExitCode);
            Assert.Contains("SIGINT received; stopping the VM", vessel.StandardError.ReadToEnd());
        }
        finally
        {
            if (!vessel.HasExited) vessel.Kill();
        }
    }

    /// <summary>stdout and stderr into one file (2>&1): every line intact, none written over another.</summary>
    [Fact]
    public void StdoutAndStderrSharingAFileDoNotOverwriteEachOther()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        string log = Path.Combine(Path.GetTempPath(), $"vessel-log-{Guid.NewGuid():N}");
        try
        {
            using var sh = Process.Start("sh", ["-c", "exec \"$0\" run --kernel \"$1\" --backend emu --memory 16 --log-level debug >\"$2\" 2>&1",
                Path.Combine(AppContext.BaseDirectory, "vessel"), kernel.Path, log])!;
            Assert.True(sh.WaitForExit(60_000));
            Assert.Equal(3, sh.ExitCode);
            string text = File.ReadAllText(log);
            Assert.Contains("vessel: debug: machine started: 1 vCPU(s), 16 MiB\n", text);
            Assert.Contains("hi", text);
            Assert.Contains("vessel: info: VM ended: guest wrote to isa-debug-exit (status 3) (exit status 3)\n", text);
        }
        finally
        {
            File.Delete(log);
        }
    }
}
