using System.Text.Json;
using Vessel.Cli.Tests;

namespace Vessel.Api.Tests;

public sealed class PauseResumeTests
{
    [Fact]
    public async Task PausedGuestPrintsNothingAndResumesWhereItStopped()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)));

        await vessel.Expect204("PATCH", "/vm", """{"state": "Paused"}""");
        Assert.Equal("Paused", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());
        string atPause = vessel.WaitForQuietOutput(); // output already on its way through the console's writer thread
        Thread.Sleep(1000);
        Assert.Equal(atPause, vessel.Output);
        await vessel.Expect204("PATCH", "/vm", """{"state": "Paused"}"""); // idempotent, as Firecracker

        await vessel.Expect204("PATCH", "/vm", """{"state": "Resumed"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= atPause.Length + 20, TimeSpan.FromSeconds(30)));
        Assert.Equal("Running", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());
        Assert.True(CounterGuest.IsCounting(vessel.Output, out _), "output lost or reordered across the pause");
    }

    /// <summary>The 5 s pause with a guest printing the CMOS clock every 100 ticks of a 100 Hz PIT timer
    /// (<see cref="CounterGuest.TickClock"/>), on emu: nothing is printed while paused; after resume the guest's date
    /// has run on by the paused time (emu's clocks are views of the host's) while its timer-driven counter has not:
    /// the ticks that fell due during the pause coalesce into one interrupt at resume.</summary>
    [Fact]
    public async Task FiveSecondPauseOnEmuTheDateRunsOnTheTickCounterDoesNot()
    {
        var (before, all) = await PauseFiveSeconds("emu");
        // After it the lines come a second apart again: no burst of missed ticks.
        Assert.True(Seconds(all[before.Count], all[before.Count + 2]) >= 1, string.Join(' ', all));
    }

    /// <summary>The same on kvm, whose in-kernel PIT re-injects the ticks it could not deliver: the date has run on
    /// by the paused time, and the timer-driven counter catches up at once, in a burst of lines stamped within one
    /// second (the burst may straddle a second's boundary); without the catch-up three lines would span two seconds.</summary>
    [KvmFact]
    public async Task FiveSecondPauseOnKvmTheDateRunsOnTheTickCounterCatchesUp()
    {
        var (before, all) = await PauseFiveSeconds("kvm");
        Assert.InRange(Seconds(all[before.Count], all[before.Count + 2]), 0, 1);
    }

    /// <summary>Runs <see cref="CounterGuest.TickClock"/>, pauses it for 5 s (asserting it prints nothing meanwhile),
    /// resumes it, and returns its stamps before the pause and after (at least 3 more).</summary>
    private static async Task<(List<int> Before, List<int> All)> PauseFiveSeconds(string backend)
    {
        using var vessel = new VesselProcess("--backend", backend);
        await GettingStartedTests.Configure(vessel, CounterGuest.TickClock());
        var run = System.Diagnostics.Stopwatch.StartNew();
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => Stamps(o).Count >= 3, TimeSpan.FromSeconds(30)), vessel.Output + vessel.Error);

        await vessel.Expect204("PATCH", "/vm", """{"state": "Paused"}""");
        string atPause = vessel.WaitForQuietOutput(); // output already on its way through the console's writer thread
        Thread.Sleep(5000);
        Assert.Equal(atPause, vessel.Output);
        var before = Stamps(atPause);

        await vessel.Expect204("PATCH", "/vm", """{"state": "Resumed"}""");
        Assert.True(vessel.WaitForOutput(o => Stamps(o).Count >= before.Count + 3, TimeSpan.FromSeconds(30)), vessel.Output);
        double hostSeconds = run.Elapsed.TotalSeconds;
        var all = Stamps(vessel.Output);

        // Across the pause, the date moved on by at least the 5 s paused. A loaded host delays ticks (on emu those
        // that fall due together coalesce), so how much more depends on the load; but the date is the host's, so
        // from the first line to the one after the pause it ran no further than the host's clock meanwhile (one
        // second for the stamps' granularity).
        Assert.True(Seconds(all[before.Count - 1], all[before.Count]) >= 5, string.Join(' ', all));
        Assert.InRange(Seconds(all[0], all[before.Count]), 5, (int)Math.Ceiling(hostSeconds) + 1);
        return (before, all);
    }

    /// <summary>The "MM:SS" lines of <see cref="CounterGuest.TickClock"/>, in seconds past the hour.</summary>
    private static List<int> Stamps(string output) =>
        [.. output.Split('\n').Where(l => l.Length == 5 && l[2] == ':').Select(l => int.Parse(l[..2], System.Globalization.CultureInfo.InvariantCulture) * 60 + int.Parse(l[3..], System.Globalization.CultureInfo.InvariantCulture))];

    private static int Seconds(int from, int to) => (to - from + 3600) % 3600;

    /// <summary>100 clients hammer GET /vm/config and PATCH /vm Paused/Resumed while the guest counts on its console:
    /// no deadlock, every response valid, no guest output lost or reordered. VESSEL_API_HAMMER_SECONDS sets the
    /// duration (the 30 s; 5 by default here).</summary>
    [Fact]
    public async Task HundredClientsHammeringConfigAndPauseResume()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter(20_000));
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        string config = await vessel.Get("/vm/config");
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("VESSEL_API_HAMMER_SECONDS"), out int s) ? s : 5;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        long requests = 0;
        var clients = Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
        {
            using var client = VesselProcess.CreateClient(vessel.SocketPath);
            while (DateTime.UtcNow < deadline)
            {
                if (i % 2 == 0)
                {
                    using var response = await client.GetAsync("/vm/config");
                    Assert.Equal(200, (int)response.StatusCode);
                    Assert.Equal(config, await response.Content.ReadAsStringAsync());
                }
                else
                {
                    string state = i % 4 == 1 ? "Paused" : "Resumed";
                    using var content = new StringContent($$"""{"state": "{{state}}"}""");
                    using var response = await client.PatchAsync("/vm", content);
                    Assert.Equal(204, (int)response.StatusCode);
                }
                Interlocked.Increment(ref requests);
            }
        })).ToArray();
        await Task.WhenAll(clients);
        await vessel.Expect204("PATCH", "/vm", """{"state": "Resumed"}""");
        int before = vessel.Output.Length;
        Assert.True(vessel.WaitForOutput(o => o.Length > before + 20, TimeSpan.FromSeconds(30)), "the guest did not run on after the hammering");
        Assert.True(CounterGuest.IsCounting(vessel.Output, out int lines), "guest output lost or reordered");
        Assert.True(requests > 100, $"only {requests} requests in {seconds} s");
        Assert.True(lines > 10, $"{lines} lines");
    }
}
