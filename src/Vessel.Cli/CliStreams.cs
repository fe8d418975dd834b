using System.Text;

namespace Vessel.Cli;

/// <summary>The standard streams of one CLI invocation. Input and Output carry the guest console as raw bytes;
/// Error carries vessel's own messages as text.</summary>
public sealed class CliStreams(Stream input, Stream output, Stream error)
{
    public Stream Input { get; } = input;
    public Stream Output { get; } = output;
    public TextWriter Error { get; } = new StreamWriter(error, new UTF8Encoding(false), 1024, leaveOpen: true) { AutoFlush = true };
    public TextWriter OutputText { get; } = new StreamWriter(output, new UTF8Encoding(false), 1024, leaveOpen: true) { AutoFlush = true };
}
