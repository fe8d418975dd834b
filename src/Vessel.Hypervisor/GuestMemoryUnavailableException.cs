namespace Vessel.Hypervisor;

/// <summary>The host or the backend cannot give the guest the memory asked for (the mapping failed, or KVM
/// refused the memory slot). A user error of size, not a bug: callers report the message as it is.</summary>
public sealed class GuestMemoryUnavailableException(string message) : Exception(message);
