using System.Diagnostics;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>e2fsprogs on the host: makes ext4 images from a directory (mkfs.ext4 -d, no mount, no root) and
/// reads them back (e2fsck replays the journal a guest left, debugfs reads a file out).</summary>
internal static class E2fsTools
{
    public static void MakeExt4(string image, string fromDirectory, string size = "32M") =>
        Run("mkfs.ext4", ["-q", "-F", "-d", fromDirectory, image, size], out _, expectExit: 0);

    /// <summary>Replays the journal and repairs; returns e2fsck's exit code (0 clean, 1 repaired something).</summary>
    public static int Check(string image, bool repair) =>
        Run("e2fsck", [repair ? "-fy" : "-fn", image], out _, expectExit: null);

    public static string ReadFile(string image, string path)
    {
        Run("debugfs", ["-R", $"cat {path}", image], out string stdout, expectExit: 0);
        return stdout;
    }

    private static int Run(string tool, string[] args, out string stdout, int? expectExit)
    {
        string path = new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" }.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"{tool} (e2fsprogs) is not installed");
        var start = new ProcessStartInfo(path, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (expectExit is { } code && process.ExitCode != code)
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {process.ExitCode}: {stderr.Result}");
        return process.ExitCode;
    }
}
