namespace Vessel.Virtio.Block;

/// <summary>A disk image cannot be used (missing, unreadable, not writable, not a file). The message is one line
/// for the user, naming the path.</summary>
public sealed class DiskImageException(string message, Exception? inner = null) : Exception(message, inner);
