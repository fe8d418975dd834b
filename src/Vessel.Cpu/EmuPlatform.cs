using Vessel.Cpu.Platform;
using Vessel.Devices.Bus;
using Vessel.Devices.Platform;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The devices KVM keeps in the kernel, hosted by the emu backend so the VMM above cannot tell the
/// backends apart: a local APIC per vCPU, the I/O APIC, the 8259 pair and the 8254 PIT. The last three sit on the
/// backend's own port and MMIO buses at the places <see cref="PcLayout"/> names; accesses they claim never leave
/// the backend. Time-driven work (APIC timers, the PIT) runs when a vCPU polls: every vCPU polls its own APIC,
/// vCPU 0 also polls the PIT; a halted vCPU sleeps until its next deadline or a wake-up.</summary>
internal sealed class EmuPlatform
{
    private readonly GuestClock _clock;
    private readonly ApicBus _bus = new();
    private readonly DualPic _pic = new();
    private readonly IoApic _ioApic;
    private readonly Pit8254 _pit;
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private int _vcpuCount;

    public EmuPlatform(GuestClock clock)
    {
        _clock = clock;
        _ioApic = new IoApic(_bus.Deliver, id: 0);
        _pit = new Pit8254(clock.NowNanoseconds, level => SetIsaIrq(0, level));
        _pit.Reprogrammed += WakeBootstrapProcessor; // it polls the PIT: let it re-plan its sleep
        _bus.Pic = _pic;
        _bus.IoApic = _ioApic;
        _pic.OutputChanged += () =>
        {
            foreach (var apic in _bus.Apics)
                if (apic.Id == 0) apic.ExtIntChanged();
        };
        _ports.Register(PcLayout.PicMasterPort, DualPic.WindowLength, _pic.MasterPorts);
        _ports.Register(PcLayout.PicSlavePort, DualPic.WindowLength, _pic.SlavePorts);
        _ports.Register(PcLayout.PicElcrPort, DualPic.WindowLength, _pic.ElcrPorts);
        _ports.Register(PcLayout.PitPort, Pit8254.CounterPortsLength, _pit.CounterPorts);
        _ports.Register(PcLayout.SystemControlPortB, Pit8254.PortBLength, _pit.PortBPort);
        _mmio.Register(PcLayout.IoApicBase, IoApic.MmioLength, _ioApic);
    }

    /// <summary>Gives a new vCPU its local APIC; application processors wait for INIT/SIPI, as KVM's do.</summary>
    public void AttachVcpu(X86Cpu cpu)
    {
        var apic = new LocalApic(cpu, _bus, _clock);
        cpu.LocalApic = apic;
        cpu.InterruptController = apic;
        _bus.Attach(apic);
        // The I/O APIC's id follows the processors' (the MP table gives it the id after the last vCPU).
        Interlocked.Increment(ref _vcpuCount);
        if (cpu.VcpuId != 0) cpu.WaitingForSipi = true;
    }

    public void DetachVcpu(X86Cpu cpu)
    {
        if (cpu.LocalApic is { } apic) _bus.Detach(apic);
    }

    // The local APIC is not on the bus: it belongs to the vCPU making the access, at a base that vCPU may move.
    public bool TryReadMmio(X86Cpu cpu, ulong physical, int size, out ulong value)
    {
        if (cpu.LocalApic is { MmioEnabled: true } apic && (physical & ~0xFFFUL) == apic.MmioBase)
        {
            value = (physical & 0xF) == 0 && size == 4 ? apic.ReadRegister((int)(physical & 0xFF0)) : 0;
            return true;
        }
        return _mmio.TryRead(physical, size, out value);
    }

    public bool TryWriteMmio(X86Cpu cpu, ulong physical, int size, ulong value)
    {
        if (cpu.LocalApic is { MmioEnabled: true } apic && (physical & ~0xFFFUL) == apic.MmioBase)
        {
            if ((physical & 0xF) == 0 && size == 4) apic.WriteRegister((int)(physical & 0xFF0), (uint)value);
            return true;
        }
        return _mmio.TryWrite(physical, size, value);
    }

    public bool TryReadPort(X86Cpu cpu, ushort port, int size, out ulong value)
    {
        bool claimed = _ports.TryRead(port, size, out uint read);
        value = read;
        return claimed;
    }

    public bool TryWritePort(X86Cpu cpu, ushort port, int size, ulong value) => _ports.TryWrite(port, size, (uint)value);

    /// <summary>GSI n: the PIC's IRQ n (n &lt; 16) and I/O APIC pin n, except ISA IRQ 0 which the MP table
    /// routes to pin 2.</summary>
    public void SetIrqLine(uint gsi, bool level)
    {
        if (gsi < 16) SetIsaIrq((int)gsi, level);
        else _ioApic.SetIrq((int)gsi, level);
    }

    private void SetIsaIrq(int irq, bool level)
    {
        _pic.SetIrq(irq, level);
        if (irq == 2) return; // the cascade: no I/O APIC pin
        _ioApic.SetIrq(irq == 0 ? 2 : irq, level);
    }

    public void SignalMsi(ulong address, uint data) => _bus.SignalMsi(address, data);

    /// <summary>Runs the time-driven devices this vCPU owns; returns the Stopwatch timestamp of the next deadline.</summary>
    public long Poll(X86Cpu cpu, long nowTimestamp)
    {
        long next = cpu.LocalApic?.Poll(nowTimestamp) ?? long.MaxValue;
        if (cpu.VcpuId == 0)
        {
            long pit = _pit.Poll();
            if (pit != long.MaxValue) next = Math.Min(next, _clock.TimestampAt(pit));
        }
        return next;
    }

    /// <summary>Whether something other than a maskable interrupt (an NMI or INIT from another vCPU) could end a
    /// HLT with interrupts disabled: a single vCPU halted that way is finished.</summary>
    public bool CanWake(X86Cpu cpu) => Volatile.Read(ref _vcpuCount) > 1;

    /// <summary>Blocks a halted vCPU until an interrupt for it arrives, its next timer deadline, or a kick.</summary>
    public void WaitForWake(X86Cpu cpu)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long deadline = Poll(cpu, now);
        // No early return on HasPendingEvent: the run loop already tried to deliver, so a pending event here is
        // one the CPU cannot take (IF=0, NMI blocked) and returning would spin. Anything that becomes pending
        // (including a timer Poll just fired) sets the wake event, which ends this wait at once.
        cpu.WaitForWakeSignal(deadline);
    }

    private void WakeBootstrapProcessor()
    {
        foreach (var apic in _bus.Apics)
            if (apic.Id == 0) apic.Cpu.RequestPoll();
    }
}
