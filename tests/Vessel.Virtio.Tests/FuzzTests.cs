using Xunit.Abstractions;

namespace Vessel.Virtio.Tests;

public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>A few thousand seeded random cases per device through the fuzz target; a failure names its seed.
    /// Both outcomes must be common, or the generator has stopped reaching the device.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_queues_never_escape_hang_or_touch_outside_guest_ram(int device)
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("VESSEL_VIRTIO_FUZZ_CASES"), out int n) ? n : 1500;
        var outcomes = new Dictionary<FuzzOutcome, int>();
        var buffer = new byte[8192];
        var reasons = new Dictionary<string, int>();
        for (int seed = 0; seed < cases; seed++)
        {
            var random = new Random(seed * 4 + device);
            random.NextBytes(buffer);
            buffer[0] = (byte)device;
            FuzzOutcome outcome;
            try
            {
                outcome = VirtqueueFuzzTarget.RunCase(buffer, out string? reason);
                if (reason != null)
                {
                    string kind = System.Text.RegularExpressions.Regex.Replace(reason, "[0-9a-fx]*[0-9][0-9a-fx]*", "N");
                    reasons[kind] = reasons.GetValueOrDefault(kind) + 1;
                }
            }
            catch (Exception e)
            {
                Assert.Fail($"device {device}, seed {seed}: {e}");
                throw;
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        output.WriteLine($"device {device}: {string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}"))}");
        foreach (var (kind, count) in reasons.OrderByDescending(kv => kv.Value).Take(8))
            output.WriteLine($"  {count,5} {kind}");
        int completed = outcomes.GetValueOrDefault(FuzzOutcome.Completed), resets = outcomes.GetValueOrDefault(FuzzOutcome.NeedsReset);
        Assert.True(completed > cases / 20 && resets > cases / 20,
            $"outcomes too one-sided: {string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}"))}");
    }

    [Fact]
    public void The_fuzz_target_takes_short_and_empty_inputs()
    {
        VirtqueueFuzzTarget.Run([]);
        VirtqueueFuzzTarget.Run([0]);
        VirtqueueFuzzTarget.Run([1, 3, 7]);
        VirtqueueFuzzTarget.Run([3, 255, 255, 255]);
    }
}
