namespace Vessel.Kvm;

/// <summary>/dev/kvm cannot be used: missing, refused, the wrong API version or lacking a capability.
/// <see cref="DeviceMissing"/> tells "this machine has no KVM" from "KVM is here but refused us".</summary>
public sealed class KvmUnavailableException(string message, bool deviceMissing = false) : Exception(message)
{
    public bool DeviceMissing { get; } = deviceMissing;
}

/// <summary>A KVM ioctl failed on a VM or vCPU that was working.</summary>
public sealed class KvmException(string message) : Exception(message);
