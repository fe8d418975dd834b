using System.Diagnostics;

namespace Vessel.Bench;

/// <summary>Boots the same multiboot CRC image in QEMU TCG (a process, wall time) and on Vessel's emu CPU
/// (in process, wall time from load to the debug-exit write), and prints both and their ratio.</summary>
internal static class QemuComparison
{
    public static int Run(int rounds, int repeats)
    {
        byte[] image = MultibootCrcImage.Build(rounds);
        string path = Path.Combine(Path.GetTempPath(), $"vessel-bench-crc-{Environment.ProcessId}.mb");
        File.WriteAllBytes(path, image);
        try
        {
            string expected = CrcGuest.Expected(rounds).ToString("x8");
            var qemu = new List<double>();
            var vessel = new List<double>();
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

                var r = InProcessBoot.Run(image);
                if (r.Output.Trim() != expected)
                {
                    Console.WriteLine($"vessel printed '{r.Output.Trim()}', expected {expected} ({r.Error ?? "no error"})");
                    return 1;
                }
                vessel.Add(r.Elapsed.TotalSeconds);
                instructions = r.Instructions;
                Console.WriteLine($"run {i + 1}: qemu {qemuSeconds:F3} s, vessel {r.Elapsed.TotalSeconds:F3} s " +
                    $"({r.Instructions / r.Elapsed.TotalSeconds / 1e6:F1} M guest instructions/s)");
            }
            double q = Median(qemu), v = Median(vessel);
            Console.WriteLine($"CRC image, {rounds} rounds, {instructions:N0} guest instructions, median of {repeats}:");
            Console.WriteLine($"  qemu-system-x86_64 -accel tcg  {q:F3} s (process start to exit)");
            Console.WriteLine($"  vessel emu                     {v:F3} s = {instructions / v / 1e6:F1} M guest instructions/s");
            Console.WriteLine($"  ratio vessel/qemu              {v / q:F2}");
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
