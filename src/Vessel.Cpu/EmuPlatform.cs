using Vessel.Cpu.Platform;
using Vessel.Devices;
using Vessel.Devices.Platform;

namespace Vessel.Cpu;

/// <summary>The devices KVM keeps in the kernel (LAPIC, IOAPIC, PIC, PIT), hosted by the emu backend so
/// the VMM above cannot tell the backends apart. Accesses they claim never leave the backend.
/// <para>The VM-wide devices (PIC pair, PIT, port 0x61, IOAPIC) share one lock; each local APIC has its
/// own, always taken after this one. Time: there is no timer thread. Every vCPU polls the platform from
/// its run loop when the earliest deadline it knows (its LAPIC timer, the PIT's next IRQ 0) has passed,
/// and a halted vCPU sleeps until that deadline or a wake; whichever vCPU comes first services the PIT,
/// and the interrupt then travels to its destination like any other.</para>
/// <para>GSI routing, as the MP table describes it: GSI 0 (PIT) → PIC IRQ 0 and IOAPIC pin 2; GSI 1-15
/// → PIC IRQ n and IOAPIC pin n (2 is the cascade, pin 2 belongs to IRQ 0); GSI 16-23 → IOAPIC pins.</para></summary>
internal sealed class EmuPlatform : IExtIntSource
{
    private readonly object _lock = new();
    private readonly GuestClock _clock;
    private readonly DualPic _pic;
    private readonly Pit8254 _pit;
    private readonly SystemControlPortB _portB;
    private readonly IoApic _ioApic;
    private volatile X86Cpu[] _cpus = [];
    private long _pitDeadline = long.MaxValue; // host timestamp of the PIT's next IRQ 0 edge

    public EmuPlatform(GuestClock clock)
    {
        _clock = clock;
        Bus = new ApicBus { EoiBroadcast = IoApicEndOfInterrupt };
        _pic = new DualPic(new Line(PicOutputChanged));
        _pit = new Pit8254(clock, new Line(level => SetIrqLineLocked(0, level)));
        _portB = new SystemControlPortB(_pit, clock);
        _ioApic = new IoApic(Bus, id: 0);
    }

    public ApicBus Bus { get; }

    /// <summary>Gives a new vCPU its local APIC.</summary>
    public void Attach(X86Cpu cpu)
    {
        var apic = new LocalApic(cpu, Bus, _clock, this);
        cpu.Lapic = apic;
        cpu.InterruptController = apic;
        Bus.Attach(apic);
        lock (_lock)
        {
            _cpus = [.. _cpus, cpu];
            apic.SetPicOutput(_pic.InterruptOutput);
        }
    }

    // ------------------------------------------------------------------ MMIO

    public bool TryReadMmio(X86Cpu cpu, ulong physical, int size, out ulong value)
    {
        value = 0;
        LocalApic? apic = cpu.Lapic;
        if (apic != null && IsApicPage(apic, physical))
        {
            uint offset = (uint)(physical & 0xFFF);
            value = (ulong)apic.ReadRegister(offset & 0xFF0) >> (int)((offset & 3) * 8);
            return true;
        }
        if (physical - IoApic.BaseAddress < IoApic.Size)
        {
            lock (_lock) value = _ioApic.Read(physical - IoApic.BaseAddress, size);
            return true;
        }
        return false;
    }

    public bool TryWriteMmio(X86Cpu cpu, ulong physical, int size, ulong value)
    {
        LocalApic? apic = cpu.Lapic;
        if (apic != null && IsApicPage(apic, physical))
        {
            uint offset = (uint)(physical & 0xFFF);
            if ((offset & 0xF) == 0) apic.WriteRegister(offset, (uint)value);
            return true;
        }
        if (physical - IoApic.BaseAddress < IoApic.Size)
        {
            lock (_lock) _ioApic.Write(physical - IoApic.BaseAddress, size, value);
            return true;
        }
        return false;
    }

    private static bool IsApicPage(LocalApic apic, ulong physical) =>
        (physical & ~0xFFFUL) == apic.MmioBase && apic.HardwareEnabled && !apic.X2ApicMode;

    // ------------------------------------------------------------------ ports

    private static bool IsPlatformPort(ushort port) => port is 0x20 or 0x21 or 0xA0 or 0xA1 or 0x4D0 or 0x4D1
        or (>= Pit8254.BasePort and <= Pit8254.BasePort + 3) or SystemControlPortB.Port;

    public bool TryReadPort(X86Cpu cpu, ushort port, int size, out ulong value)
    {
        value = 0;
        if (!IsPlatformPort(port)) return false;
        lock (_lock)
        {
            for (int i = 0; i < size; i++)
                value |= (ulong)ReadByte((ushort)(port + i)) << (8 * i);
        }
        return true;
    }

    public bool TryWritePort(X86Cpu cpu, ushort port, int size, ulong value)
    {
        if (!IsPlatformPort(port)) return false;
        bool pitChanged = false;
        lock (_lock)
        {
            for (int i = 0; i < size; i++)
                pitChanged |= WriteByte((ushort)(port + i), (byte)(value >> (8 * i)));
            if (pitChanged) ReschedulePitLocked();
        }
        if (pitChanged)
            foreach (X86Cpu c in _cpus)
            {
                ((ILocalApicHost)c).RequestTimerPoll();
                c.Wake();
            }
        return true;
    }

    private byte ReadByte(ushort port) => port switch
    {
        0x20 or 0x21 => _pic.Read(false, port & 1),
        0xA0 or 0xA1 => _pic.Read(true, port & 1),
        0x4D0 or 0x4D1 => _pic.ReadElcr(port & 1),
        >= Pit8254.BasePort and <= Pit8254.BasePort + 3 => _pit.Read(port - Pit8254.BasePort),
        SystemControlPortB.Port => _portB.Read(),
        _ => 0xFF,
    };

    /// <summary>Writes one byte; true when the PIT's channel 0 schedule may have changed.</summary>
    private bool WriteByte(ushort port, byte value)
    {
        switch (port)
        {
            case 0x20 or 0x21: _pic.Write(false, port & 1, value); return false;
            case 0xA0 or 0xA1: _pic.Write(true, port & 1, value); return false;
            case 0x4D0 or 0x4D1: _pic.WriteElcr(port & 1, value); return false;
            case >= Pit8254.BasePort and <= Pit8254.BasePort + 3: _pit.Write(port - Pit8254.BasePort, value); return true;
            case SystemControlPortB.Port: _portB.Write(value); return false;
            default: return false;
        }
    }

    // ------------------------------------------------------------------ interrupt lines

    public void SetIrqLine(uint gsi, bool level)
    {
        lock (_lock) SetIrqLineLocked(gsi, level);
    }

    private void SetIrqLineLocked(uint gsi, bool level)
    {
        if (gsi < 16 && gsi != 2) _pic.SetIrq((int)gsi, level);
        if (gsi == 0) _ioApic.SetPin(2, level);
        else if (gsi != 2 && gsi < IoApic.Pins) _ioApic.SetPin((int)gsi, level);
    }

    public void SignalMsi(ulong address, uint data)
    {
        if ((address & 0xFFF0_0000) != 0xFEE0_0000) return;
        Bus.Deliver(InterruptMessage.FromMsi(address, data));
    }

    private void PicOutputChanged(bool level)
    {
        foreach (X86Cpu cpu in _cpus) cpu.Lapic?.SetPicOutput(level);
    }

    public int AcknowledgeExtInt()
    {
        lock (_lock) return _pic.Acknowledge();
    }

    private void IoApicEndOfInterrupt(int vector)
    {
        lock (_lock) _ioApic.EndOfInterrupt(vector);
    }

    // ------------------------------------------------------------------ time

    /// <summary>Runs due timers for <paramref name="cpu"/> and the VM-wide PIT; returns the host timestamp
    /// of the next deadline either of them has.</summary>
    public long Poll(X86Cpu cpu, long now)
    {
        long next = Volatile.Read(ref _pitDeadline);
        if (now >= next)
            lock (_lock) next = ReschedulePitLocked();
        LocalApic? apic = cpu.Lapic;
        return apic == null ? next : Math.Min(next, apic.Poll(now));
    }

    private long ReschedulePitLocked()
    {
        long ns = _pit.Service();
        long deadline = ns == long.MaxValue ? long.MaxValue : _clock.TimestampAt(ns);
        Volatile.Write(ref _pitDeadline, deadline);
        return deadline;
    }

    /// <summary>Whether something other than a maskable interrupt could end a HLT with IF=0: a pending
    /// NMI, or, with more than one vCPU, an NMI or INIT another vCPU may send (KVM keeps such a vCPU halted).</summary>
    public bool CanWake(X86Cpu cpu) => cpu.Lapic?.NmiPending == true || Bus.Count > 1;

    /// <summary>Blocks a halted vCPU until an interrupt for it arrives, it is kicked, or its next timer is due.</summary>
    public void WaitForWake(X86Cpu cpu)
    {
        if (cpu.WaitingForSipi)
        {
            cpu.WaitForWakeSignal();
            return;
        }
        cpu.WaitForWakeSignal(Poll(cpu, System.Diagnostics.Stopwatch.GetTimestamp()));
    }

    private sealed class Line(Action<bool> set) : IInterruptLine
    {
        public void Set(bool level) => set(level);
    }
}
