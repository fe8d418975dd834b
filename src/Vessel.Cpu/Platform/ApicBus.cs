using Vessel.Hypervisor;
using Vessel.Devices.Platform;

namespace Vessel.Cpu.Platform;

/// <summary>The APIC bus of one VM: routes IPIs, I/O APIC messages and MSIs to the local APICs by delivery mode
/// and destination (physical, logical flat/cluster, x2APIC, shorthands), and EOIs back to the I/O APIC.</summary>
internal sealed class ApicBus
{
    private volatile LocalApic[] _apics = [];
    private readonly object _lock = new();

    public DualPic? Pic { get; set; }
    public IoApic? IoApic { get; set; }

    public void Attach(LocalApic apic)
    {
        lock (_lock) _apics = [.. _apics, apic];
    }

    public void Detach(LocalApic apic)
    {
        lock (_lock) _apics = [.. _apics.Where(a => a != apic)];
    }

    public IReadOnlyList<LocalApic> Apics => _apics;

    public void BroadcastEoi(int vector) => IoApic?.EndOfInterrupt(vector);

    /// <summary>An IPI from <paramref name="source"/>: ICR low word and the destination (8-bit xAPIC or 32-bit x2APIC).</summary>
    public void SendIpi(LocalApic source, uint icrLow, uint destination)
    {
        int vector = (int)(icrLow & 0xFF);
        int mode = (int)(icrLow >> 8) & 7;
        bool logical = (icrLow & (1 << 11)) != 0;
        bool assert = (icrLow & (1 << 14)) != 0;
        bool level = (icrLow & (1 << 15)) != 0;
        int shorthand = (int)(icrLow >> 18) & 3;
        if (mode == 5 && level && !assert) return; // INIT level de-assert: nothing to do
        foreach (var target in _apics)
        {
            bool hit = shorthand switch
            {
                1 => target == source,
                2 => true,
                3 => target != source,
                _ => logical ? target.MatchesLogical(destination) : target.MatchesPhysical(destination),
            };
            if (!hit) continue;
            if (mode == 1 && shorthand == 0)
            {
                DeliverLowestPriority(vector, logical, destination, level);
                return;
            }
            Deliver(target, mode, vector, level);
        }
    }

    /// <summary>An interrupt message from the I/O APIC or an MSI.</summary>
    public void Deliver(ApicMessage m)
    {
        if (m.DeliveryMode == 1)
        {
            DeliverLowestPriority(m.Vector, m.LogicalDestination, (uint)m.Destination, m.LevelTriggered);
            return;
        }
        foreach (var target in _apics)
        {
            bool hit = m.LogicalDestination ? target.MatchesLogical((uint)m.Destination) : target.MatchesPhysical((uint)m.Destination);
            if (hit) Deliver(target, m.DeliveryMode, m.Vector, m.LevelTriggered);
        }
    }

    /// <summary>An MSI write: address 0xFEExxxxx carries the destination, data the vector and mode.</summary>
    public void SignalMsi(ulong address, uint data)
    {
        if (address - PcLayout.MsiWindowBase >= PcLayout.MsiWindowLength) return;
        int destination = (int)((address >> 12) & 0xFF);
        bool logical = (address & (1 << 2)) != 0;
        Deliver(new ApicMessage((int)(data & 0xFF), (int)(data >> 8) & 7, logical, destination, (data & (1 << 15)) != 0));
    }

    private void DeliverLowestPriority(int vector, bool logical, uint destination, bool level)
    {
        LocalApic? best = null;
        foreach (var target in _apics)
        {
            bool hit = logical ? target.MatchesLogical(destination) : target.MatchesPhysical(destination);
            if (hit && (best is null || target.TaskPriority < best.TaskPriority)) best = target;
        }
        best?.Accept(vector, level);
    }

    private static void Deliver(LocalApic target, int mode, int vector, bool level)
    {
        switch (mode)
        {
            case 0: case 1: target.Accept(vector, level); break;
            case 4: target.AcceptNmi(); break;
            case 5: target.Cpu.SignalInit(); break;
            case 6: target.Cpu.SignalSipi(vector); break;
            case 7: target.ExtIntChanged(); break; // ExtINT: the PIC supplies the vector at acknowledge time
        }
    }
}
