using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>The result of loading a kernel: the bootstrap vCPU's initial state. Everything the kernel needs in
/// guest memory has already been written by the loader.</summary>
public sealed record BootSetup(
    KernelImageFormat Format, Registers Registers, SpecialRegisters SpecialRegisters, string Description);
