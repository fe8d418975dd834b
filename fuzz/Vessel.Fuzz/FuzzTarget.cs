namespace Vessel.Fuzz;

/// <summary>Feeds one input to a parser. It swallows only the parser's promised refusal (its clean error type);
/// any other exception that escapes is a finding.</summary>
public delegate void FuzzInput(ReadOnlySpan<byte> data);

/// <summary>One parser of untrusted bytes under fuzzing: its name on the command line, what it parses, the
/// call, and the well-formed inputs mutation starts from.</summary>
public sealed record FuzzTarget(string Name, string Parses, FuzzInput Run, Func<IReadOnlyList<byte[]>> Seeds);
