using System.Text.Json;

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
        Thread.Sleep(100); // output already on its way through the console's writer thread
        string atPause = vessel.Output;
        Thread.Sleep(1000);
        Assert.Equal(atPause, vessel.Output);
        await vessel.Expect204("PATCH", "/vm", """{"state": "Paused"}"""); // idempotent, as Firecracker

        await vessel.Expect204("PATCH", "/vm", """{"state": "Resumed"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= atPause.Length + 20, TimeSpan.FromSeconds(30)));
        Assert.Equal("Running", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());
        Assert.True(CounterGuest.IsCounting(vessel.Output, out _), "output lost or reordered across the pause");
    }

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
