namespace Vessel.Cli.Options;

public enum SerialKind
{
    Stdio,
    File,
    None,
}

/// <summary>Where COM1 goes: the terminal (stdio), a file (output only), or nowhere.</summary>
public sealed record SerialTarget(SerialKind Kind, string? Path = null)
{
    public static readonly SerialTarget Stdio = new(SerialKind.Stdio);
    public static readonly SerialTarget None = new(SerialKind.None);

    public static SerialTarget Parse(string text)
    {
        if (text == "stdio") return Stdio;
        if (text == "none") return None;
        if (text.StartsWith("file:", StringComparison.Ordinal))
        {
            string path = text["file:".Length..];
            if (path.Length == 0) throw CliException.Usage("--serial file: needs a path (file:PATH)");
            return new SerialTarget(SerialKind.File, path);
        }
        throw CliException.Usage($"--serial '{text}' is not one of stdio, file:PATH, none");
    }
}
