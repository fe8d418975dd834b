using System.Diagnostics;

namespace Vessel.Virtio.Tests;

public sealed class DurabilityTests
{
    /// <summary>A child process writes and flushes through virtio-blk and is SIGKILLed the moment the flush completes:
    /// the data is in the image (nothing was held back in the VMM), and the flush was an fdatasync of the image
    /// (seen with strace).</summary>
    [Fact]
    public async Task Flushed_data_survives_a_sigkill_right_after_the_flush()
    {
        using var image = new TempImage(64 * 1024);
        string trace = Path.Combine(Path.GetTempPath(), $"vessel-virtio-strace-{Guid.NewGuid():N}.log");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        string self = typeof(Program).Assembly.Location;
        var psi = new ProcessStartInfo("strace", ["-f", "-e", "trace=fdatasync", "-o", trace, dotnet, "exec", self, Program.FlushThenWait, image.Path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        try
        {
            using var child = Process.Start(psi)!;
            string? said;
            try
            {
                said = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                said = "(nothing within 60 s)";
            }
            child.Kill(entireProcessTree: true); // SIGKILL
            await child.WaitForExitAsync();
            Assert.True(said == "flushed", $"child said '{said}': {await child.StandardError.ReadToEndAsync()}");
            var bytes = image.ReadAll();
            Assert.All(bytes.AsSpan(8 * 512, 4096).ToArray(), b => Assert.Equal(0xC3, b));
            Assert.All(bytes.AsSpan(0, 8 * 512).ToArray(), b => Assert.Equal(0, b));
            Assert.Matches(@"fdatasync\(\d+\)\s+= 0", File.ReadAllText(trace));
        }
        finally
        {
            File.Delete(trace);
        }
    }
}
