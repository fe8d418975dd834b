using Iced.Intel;

namespace Vessel.Hypervisor.Tests;

/// <summary>A bare VM on a backend: 64 KiB of RAM at 0, one vCPU in real mode at 0000:1000 running code
/// assembled by the test, driven exit by exit. No VMM devices: the test sees every exit that leaves Run.</summary>
internal sealed class RealModeGuest : IDisposable
{
    public const ulong CodeAddress = 0x1000;
    public const ulong RamBytes = 0x10000;

    private readonly GuestMemoryRegion _ram = new(RamBytes);

    /// <param name="code">the code at <see cref="CodeAddress"/>, where the vCPU starts</param>
    /// <param name="more">more code at another address (an interrupt handler)</param>
    public RealModeGuest(IHypervisor hypervisor, Action<Assembler> code, (ulong Address, Action<Assembler> Code)? more = null)
    {
        Hypervisor = hypervisor;
        Vm = hypervisor.CreateVirtualMachine();
        Vm.SetMemoryRegion(0, 0, _ram);
        Place(CodeAddress, code);
        if (more is { } m) Place(m.Address, m.Code);
        Vcpu = Vm.CreateVcpu(0);
        Vcpu.SetSpecialRegisters(SpecialRegisters.RealMode());
        Vcpu.SetRegisters(new Registers { Rip = CodeAddress, Rsp = 0xF000, Rflags = RflagsBits.Reserved1 });
    }

    private void Place(ulong address, Action<Assembler> code)
    {
        Vm.Memory.Write(address, GuestCode.Assemble(16, address, code));
    }

    public IHypervisor Hypervisor { get; }
    public IVirtualMachine Vm { get; }
    public IVcpu Vcpu { get; }

    /// <summary>Runs to the next exit that is not a kick; fails the test if none comes within <paramref name="timeout"/>
    /// (the vCPU is kicked then, so a guest that waits for ever does not hang the test).</summary>
    public VcpuExit NextExit(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        bool expired = false;
        using var kick = cancel.Token.Register(() =>
        {
            expired = true;
            Vcpu.Kick();
        });
        while (true)
        {
            VcpuExit exit = Vcpu.Run();
            if (exit.Reason != VcpuExitReason.Interrupted) return exit;
            Assert.False(expired, $"no exit within the time limit (rip 0x{Vcpu.GetRegisters().Rip:x})");
        }
    }

    public void Dispose()
    {
        Vcpu.Dispose();
        Vm.Dispose();
        _ram.Dispose();
    }
}
