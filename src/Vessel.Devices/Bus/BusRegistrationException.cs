namespace Vessel.Devices.Bus;

/// <summary>A device range that is empty, wraps around, or overlaps a range already on the bus.</summary>
public sealed class BusRegistrationException(string message) : Exception(message);
