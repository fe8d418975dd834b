namespace Vessel.Boot;

/// <summary>A kernel image, its options or the machine's memory cannot be booted; the message says why in one line.</summary>
public sealed class BootImageException(string message) : Exception(message);
