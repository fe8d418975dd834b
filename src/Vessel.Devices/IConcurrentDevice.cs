namespace Vessel.Devices;

/// <summary>A port or MMIO device whose every call is safe on several vCPUs at once (its state is one atomic
/// word, or none). The buses call it without taking its lock, which on a hot port is most of the dispatch.</summary>
public interface IConcurrentDevice;
