using System.Text;

namespace Vessel.Cli.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>Runs `vessel` in-process with pipes for its standard streams.</summary>
public static class CliRunner
{
    public static CliResult Run(params string[] args) => Run(args, stdin: [], host: null);

    public static CliResult Run(string[] args, byte[] stdin, CliHost? host)
    {
        var output = new MemoryStream();
        var error = new MemoryStream();
        int code = VesselCli.Run(args, new MemoryStream(stdin), output, error, host ?? new CliHost { HandleSignals = false });
        return new CliResult(code, Encoding.UTF8.GetString(output.ToArray()), Encoding.UTF8.GetString(error.ToArray()));
    }

    /// <summary>A temporary file holding <paramref name="bytes"/>, deleted with the returned handle.</summary>
    public static TempFile File(byte[] bytes) => new(bytes);
}

public sealed class TempFile : IDisposable
{
    public TempFile(byte[] bytes)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"vessel-test-{Guid.NewGuid():N}");
        System.IO.File.WriteAllBytes(Path, bytes);
    }

    public string Path { get; }

    public void Dispose() => System.IO.File.Delete(Path);
}
