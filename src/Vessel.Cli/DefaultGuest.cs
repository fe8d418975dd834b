using System.Diagnostics;

namespace Vessel.Cli;

/// <summary>The guest `vessel run` boots when no --kernel is given: Debian's stock kernel and a busybox
/// initramfs, built from Debian's packages by scripts/build-guest.sh and cached (rebuilt only when its
/// inputs change). VESSEL_GUEST_DIR points at a prebuilt one instead.</summary>
public static class DefaultGuest
{
    public const string ScriptRelativePath = "scripts/build-guest.sh";
    public const string CommandLine = "console=ttyS0 nokaslr acpi=off";

    public sealed record Files(string Kernel, string Initrd);

    /// <summary>Returns the default guest's files, building them first if needed; the script's progress
    /// lines go to <paramref name="progress"/>.</summary>
    public static Files Ensure(TextWriter progress)
    {
        string? prebuilt = Environment.GetEnvironmentVariable("VESSEL_GUEST_DIR");
        return InDirectory(string.IsNullOrEmpty(prebuilt) ? Build(progress) : prebuilt);
    }

    /// <summary>The default guest's files in <paramref name="directory"/>, which must hold both.</summary>
    public static Files InDirectory(string directory)
    {
        var files = new Files(Path.Combine(directory, "vmlinuz"), Path.Combine(directory, "initramfs.cpio.gz"));
        if (!File.Exists(files.Kernel) || !File.Exists(files.Initrd))
            throw CliException.Runtime($"the default guest in {directory} is incomplete (vmlinuz, initramfs.cpio.gz)");
        return files;
    }

    private static string Build(TextWriter progress)
    {
        string script = FindScript()
            ?? throw CliException.Runtime(
                $"no --kernel given and {ScriptRelativePath} (which builds the default Debian guest) was not found; " +
                "run vessel from a Vessel source tree, set VESSEL_GUEST_DIR, or pass --kernel");
        var start = new ProcessStartInfo("bash", [script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw CliException.Runtime("cannot start bash to build the default guest");
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line) progress.WriteLine($"vessel: {line}");
        };
        process.BeginErrorReadLine();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw CliException.Runtime($"building the default guest failed ({script} exited with {process.ExitCode})");
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length > 0 ? lines[^1] : throw CliException.Runtime($"{script} printed no output directory");
    }

    /// <summary>The build script in the source tree this binary was built from or run in.</summary>
    private static string? FindScript()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, ScriptRelativePath);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}
