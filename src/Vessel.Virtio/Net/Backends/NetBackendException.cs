namespace Vessel.Virtio.Net.Backends;

/// <summary>A network backend could not be set up (no such TAP, passt missing, a port taken); the message is the
/// one line the user sees.</summary>
public sealed class NetBackendException(string message) : Exception(message);
