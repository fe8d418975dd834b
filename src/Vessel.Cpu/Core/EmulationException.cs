namespace Vessel.Cpu;

/// <summary>The emulator met something it cannot do; the vCPU stops with an internal-error exit.</summary>
public sealed class EmulationException(string message) : Exception(message);
