using Vessel.Hypervisor;

namespace Vessel.Vmm.Tests.Fakes;

/// <summary>A backend whose vCPUs follow a script; <paramref name="scriptFor"/> gives vCPU n its script.</summary>
public sealed class FakeHypervisor(Func<int, FakeVirtualMachine, IEnumerable<Func<VcpuExit>>>? scriptFor = null, int maxVcpus = 8)
    : IHypervisor
{
    public List<FakeVirtualMachine> Machines { get; } = [];
    public Func<int, Exception?>? FailCreateVcpu { get; set; }

    public string Name => "fake";
    public HypervisorCapabilities Capabilities => new(maxVcpus, 8, InKernelIrqChip: true, Msi: false);

    public IVirtualMachine CreateVirtualMachine()
    {
        var vm = new FakeVirtualMachine(id => scriptFor?.Invoke(id, Machines[^1]) ?? [], FailCreateVcpu);
        Machines.Add(vm);
        return vm;
    }

    public void Dispose() { }
}

public sealed class FakeVirtualMachine(Func<int, IEnumerable<Func<VcpuExit>>> scriptFor, Func<int, Exception?>? failCreateVcpu)
    : IVirtualMachine
{
    public GuestMemory Memory { get; } = new();
    public List<ScriptedVcpu> Vcpus { get; } = [];
    public List<(uint Gsi, bool Level)> IrqChanges { get; } = [];
    public bool Disposed { get; private set; }

    public void SetMemoryRegion(int slot, ulong guestPhysicalAddress, GuestMemoryRegion region) =>
        Memory.Map(slot, guestPhysicalAddress, region);

    public void RemoveMemoryRegion(int slot) => Memory.Unmap(slot);

    public IVcpu CreateVcpu(int id)
    {
        if (failCreateVcpu?.Invoke(id) is { } ex) throw ex;
        var vcpu = new ScriptedVcpu(id, scriptFor(id));
        Vcpus.Add(vcpu);
        return vcpu;
    }

    public void SetIrqLine(uint gsi, bool level)
    {
        lock (IrqChanges) IrqChanges.Add((gsi, level));
    }

    public void SignalMsi(ulong address, uint data) { }

    public void Dispose() => Disposed = true;
}
