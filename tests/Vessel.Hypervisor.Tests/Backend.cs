using Vessel.Cpu;
using Vessel.Kvm;

namespace Vessel.Hypervisor.Tests;

internal static class Backend
{
    public static IHypervisor Create(string name) => name switch
    {
        "emu" => new EmuHypervisor(),
        "kvm" => KvmHypervisor.Open(),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };
}
