using Vessel.Devices.Platform;

namespace Vessel.Cpu.Platform;

/// <summary>The APIC bus of one VM: routes interrupt messages (IOAPIC pins, MSIs, IPIs) to the local
/// APICs they address (physical or logical, broadcast, lowest priority) and carries EOIs of
/// level-triggered vectors back to the IOAPIC.</summary>
internal sealed class ApicBus : IInterruptMessageSink
{
    private volatile LocalApic[] _apics = [];
    private readonly object _attachLock = new();

    /// <summary>Called with a level-triggered vector's EOI (the platform forwards it to the IOAPIC).</summary>
    public Action<int>? EoiBroadcast { get; set; }

    public int Count => _apics.Length;

    public void Attach(LocalApic apic)
    {
        lock (_attachLock) _apics = [.. _apics, apic];
    }

    public void Deliver(in InterruptMessage message) => Route(message, null, 0);

    /// <summary>An IPI from <paramref name="source"/>'s ICR with destination shorthand
    /// (0 none, 1 self, 2 all including self, 3 all excluding self).</summary>
    public void SendIpi(LocalApic source, in InterruptMessage message, int shorthand) => Route(message, source, shorthand);

    public void EndOfInterrupt(int vector) => EoiBroadcast?.Invoke(vector);

    private void Route(in InterruptMessage message, LocalApic? source, int shorthand)
    {
        LocalApic[] apics = _apics;
        if (shorthand == 1)
        {
            source!.Accept(message);
            return;
        }
        LocalApic? lowest = null;
        foreach (LocalApic apic in apics)
        {
            bool addressed = shorthand switch
            {
                2 => true,
                3 => apic != source,
                _ => message.LogicalDestination ? apic.MatchesLogical(message.Destination) : apic.MatchesPhysical(message.Destination),
            };
            if (!addressed) continue;
            if (message.Mode == DeliveryMode.LowestPriority && shorthand == 0)
            {
                if (lowest == null || apic.ArbitrationPriority < lowest.ArbitrationPriority) lowest = apic;
                continue;
            }
            apic.Accept(message);
        }
        lowest?.Accept(message);
    }
}
