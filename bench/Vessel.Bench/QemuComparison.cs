using System.Diagnostics;
using Vessel.Cpu;

namespace Vessel.Bench;

/// <summary>Boots the same multiboot image (the CRC workload, or another: <see cref="StringsGuest"/>) in QEMU TCG
/// (a process, wall time) and on Vessel's emu CPU (in process, wall time from load to the debug-exit write), and
/// prints both and their ratio.</summary>
internal static class QemuComparison
{
    /// <summary>Each repeat runs QEMU, then Vessel once per tier in <paramref name="tiers"/> (alternating, so drift in
    /// the shared machine's load hits all alike); medians and ratios to QEMU's median at the end.</summary>
    public static int Run(int rounds, int repeats, IReadOnlyList<EmuTier> tiers) =>
        Run(MultibootCrcImage.Build(rounds), CrcGuest.Expected(rounds).ToString("x8"), $"CRC image, {rounds} rounds", repeats, tiers);

    public static int Run(byte[] image, string expected, string label, int repeats, IReadOnlyList<EmuTier> tiers)
    {
        string path = Path.Combine(Path.GetTempPath(), $"vessel-bench-crc-{Environment.ProcessId}.mb");
        File.WriteAllBytes(path, image);
        try
        {
            var qemu = new List<double>();
            var vessel = tiers.Select(_ => new List<double>()).ToArray();
            long instructions = 0;
            for (int i = 0; i < repeats; i++)
            {
                var (qemuSeconds, qemuOutput) = RunQemu(path);
                if (!qemuOutput.Contains(expected))
                {
                    Console.WriteLine($"qemu printed '{qemuOutput.Trim()}', expected {expected}");
                    return 1;
                }
                qemu.Add(qemuSeconds);
                var line = new System.Text.StringBuilder($"run {i + 1}: qemu {qemuSeconds:F3} s");
                for (int t = 0; t < tiers.Count; t++)
                {
                    var r = InProcessBoot.Run(image, tier: tiers[t]);
                    if (r.Output.Trim() != expected)
                    {
                        Console.WriteLine($"vessel ({tiers[t]}) printed '{r.Output.Trim()}', expected {expected} ({r.Error ?? "no error"})");
                        return 1;
                    }
                    vessel[t].Add(r.Elapsed.TotalSeconds);
                    instructions = r.Instructions;
                    line.Append($", vessel {tiers[t]} {r.Elapsed.TotalSeconds:F3} s ({r.Instructions / r.Elapsed.TotalSeconds / 1e6:F1} M guest instructions/s)");
                }
                Console.WriteLine(line);
            }
            double q = Median(qemu);
            Console.WriteLine($"{label}, {instructions:N0} guest instructions, median of {repeats}:");
            Console.WriteLine($"  qemu-system-x86_64 -accel tcg  {q:F3} s (process start to exit)");
            for (int t = 0; t < tiers.Count; t++)
            {
                double v = Median(vessel[t]);
                Console.WriteLine($"  vessel emu, tier {tiers[t],-10}  {v:F3} s = {instructions / v / 1e6:F1} M guest instructions/s, ratio vessel/qemu {v / q:F2}");
            }
            return 0;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (double Seconds, string Output) RunQemu(string image)
    {
        var start = new ProcessStartInfo("qemu-system-x86_64",
        [
            "-accel", "tcg", "-m", "64", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", image,
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start qemu-system-x86_64");
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (sw.Elapsed.TotalSeconds, output);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
