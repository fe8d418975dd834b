using Vessel.Hypervisor;

namespace Vessel.Cli.Tests.Pty;

/// <summary>The emu backend with vCPU 0's Run throwing once the guest has run a while: a VMM failure (the
/// machine ends as Failed) on demand, for the exit paths that must restore the terminal too.</summary>
internal sealed class FailingBackend(IHypervisor inner, int runsBeforeFailing) : IHypervisor
{
    public string Name => inner.Name;
    public HypervisorCapabilities Capabilities => inner.Capabilities with { IoEvents = false };
    public IVirtualMachine CreateVirtualMachine() => new Vm(inner.CreateVirtualMachine(), runsBeforeFailing);
    public void Dispose() => inner.Dispose();

    private sealed class Vm(IVirtualMachine inner, int runsBeforeFailing) : IVirtualMachine
    {
        public GuestMemory Memory => inner.Memory;
        public void SetMemoryRegion(int slot, ulong guestPhysicalAddress, GuestMemoryRegion region) =>
            inner.SetMemoryRegion(slot, guestPhysicalAddress, region);
        public void RemoveMemoryRegion(int slot) => inner.RemoveMemoryRegion(slot);
        public IVcpu CreateVcpu(int id) => new Vcpu(inner.CreateVcpu(id), runsBeforeFailing);
        public void SetIrqLine(uint gsi, bool level) => inner.SetIrqLine(gsi, level);
        public void SignalMsi(ulong address, uint data) => inner.SignalMsi(address, data);
        public void Dispose() => inner.Dispose();
    }

    private sealed class Vcpu(IVcpu inner, int runsBeforeFailing) : IVcpu
    {
        private int _runs;

        public int Id => inner.Id;
        public Registers GetRegisters() => inner.GetRegisters();
        public void SetRegisters(in Registers registers) => inner.SetRegisters(registers);
        public SpecialRegisters GetSpecialRegisters() => inner.GetSpecialRegisters();
        public void SetSpecialRegisters(in SpecialRegisters registers) => inner.SetSpecialRegisters(registers);
        public ulong GetMsr(uint index) => inner.GetMsr(index);
        public void SetMsr(uint index, ulong value) => inner.SetMsr(index, value);
        public FpuState GetFpu() => inner.GetFpu();
        public void SetFpu(FpuState state) => inner.SetFpu(state);
        public void CompleteRead(ulong value) => inner.CompleteRead(value);
        public void Kick() => inner.Kick();
        public void Dispose() => inner.Dispose();

        public VcpuExit Run() => ++_runs > runsBeforeFailing
            ? throw new InvalidOperationException("injected VMM failure")
            : inner.Run();
    }
}
