using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>An emulated VM: guest memory, the decoded-code map and the in-backend platform devices.</summary>
public sealed class EmuVirtualMachine : IVirtualMachine
{
    private readonly EmuHypervisor _hypervisor;
    private readonly List<EmuVcpu> _vcpus = new();
    private bool _disposed;

    internal EmuVirtualMachine(EmuHypervisor hypervisor)
    {
        _hypervisor = hypervisor;
        Machine = new EmuMachineContext(hypervisor.Options);
        Memory.Written += (address, length) => Code.InvalidateRange(address, length);
    }

    /// <summary>What this VM's vCPUs share: all they see of it.</summary>
    internal EmuMachineContext Machine { get; }

    public GuestMemory Memory => Machine.Memory;
    internal EmuOptions Options => Machine.Options;
    internal CodePageMap Code => Machine.Code;
    internal CodeCacheBudget CodeCache => Machine.CodeCache;
    internal EmuPlatform Platform => Machine.Platform;
    internal Platform.GuestClock Clock => Machine.Clock;

    public void SetMemoryRegion(int slot, ulong guestPhysicalAddress, GuestMemoryRegion region)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Checked before anything is sized from it: the code-page map has a slot per page up to the end.
        const ulong addressable = 1UL << X86Cpu.PhysicalAddressBits;
        if (guestPhysicalAddress >= addressable || region.Size > addressable - guestPhysicalAddress)
            throw new GuestMemoryUnavailableException(
                $"the emu backend addresses {addressable >> 30} GiB of guest-physical memory ({X86Cpu.PhysicalAddressBits} bits); " +
                $"memory slot {slot} of {region.Size >> 20} MiB at 0x{guestPhysicalAddress:x} ends beyond it");
        Memory.Map(slot, guestPhysicalAddress, region);
        Code.Resize(guestPhysicalAddress + region.Size);
        Code.InvalidateRange(guestPhysicalAddress, region.Size);
    }

    public void RemoveMemoryRegion(int slot)
    {
        foreach (var s in Memory.Slots)
            if (s.Id == slot) Code.InvalidateRange(s.GuestAddress, s.Region.Size);
        Memory.Unmap(slot);
    }

    public IVcpu CreateVcpu(int id)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (id < 0 || id >= _hypervisor.Capabilities.MaxVcpus)
            throw new ArgumentOutOfRangeException(nameof(id), $"vCPU id {id} is outside 0..{_hypervisor.Capabilities.MaxVcpus - 1}");
        lock (_vcpus)
        {
            if (_vcpus.Exists(v => v.Id == id)) throw new InvalidOperationException($"vCPU {id} already exists");
            var cpu = new X86Cpu(Machine, id);
            Platform.AttachVcpu(cpu);
            var vcpu = new EmuVcpu(cpu, IoEvents);
            _vcpus.Add(vcpu);
            return vcpu;
        }
    }

    public void SetIrqLine(uint gsi, bool level) => Platform.SetIrqLine(gsi, level);

    public void SignalMsi(ulong address, uint data) => Platform.SignalMsi(address, data);

    /// <summary>Doorbells: each vCPU checks its writes against them before leaving Run.</summary>
    internal IoEventTable IoEvents { get; } = new();

    private EventNotifierPump? _irqEvents;

    public IDisposable AddIoEvent(IoEvent ioEvent, EventNotifier notifier)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return IoEvents.Add(ioEvent, notifier);
    }

    /// <summary>One thread waits on every interrupt event of the VM and pulses the line, as KVM's irqfd does.</summary>
    public IDisposable AddIrqEvent(uint gsi, EventNotifier notifier)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_vcpus)
            _irqEvents ??= new EventNotifierPump("emu irq events", _ => { });
        return _irqEvents.Add(notifier, () =>
        {
            Platform.SetIrqLine(gsi, true);
            Platform.SetIrqLine(gsi, false);
        });
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        EmuProfiler.Report();
        EmuVcpu[] vcpus;
        lock (_vcpus)
        {
            vcpus = _vcpus.ToArray();
            _vcpus.Clear();
        }
        foreach (var v in vcpus) v.Dispose();
        bool stopped = WaitForVcpusToLeaveRun(vcpus);
        _irqEvents?.Dispose();
        // A vCPU thread the owner left running would fault in unmapped code: leak the arena instead.
        if (stopped) Machine.ReleaseNativeCode();
    }

    /// <summary>Kicked vCPUs leave <see cref="EmuVcpu.Run"/> at their next block boundary; on a starved machine that
    /// can take a while, so the wait is long, but bounded.</summary>
    private static bool WaitForVcpusToLeaveRun(EmuVcpu[] vcpus)
    {
        long deadline = Environment.TickCount64 + 30_000;
        foreach (var v in vcpus)
        {
            while (v.IsRunning)
            {
                if (Environment.TickCount64 > deadline) return false;
                v.Kick();
                Thread.Sleep(1);
            }
        }
        return true;
    }
}
