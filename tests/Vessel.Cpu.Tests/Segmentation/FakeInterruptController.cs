namespace Vessel.Cpu.Tests.Segmentation;

/// <summary>An interrupt controller that hands out queued vectors and NMIs, optionally only once
/// <see cref="Armed"/> says so (to raise an interrupt at a chosen point of the guest).</summary>
internal sealed class FakeInterruptController : IInterruptController
{
    public List<int> Vectors { get; } = new();
    public int PendingNmis { get; set; }
    public Func<bool> Armed { get; set; } = () => true;
    public int Acknowledged { get; private set; }

    public bool HasPendingEvent => Armed() && (Vectors.Count > 0 || PendingNmis > 0);

    public int AcknowledgeInterrupt()
    {
        if (Vectors.Count == 0) return -1;
        int v = Vectors[0];
        Vectors.RemoveAt(0);
        Acknowledged++;
        return v;
    }

    public bool TakeNmi()
    {
        if (PendingNmis == 0) return false;
        PendingNmis--;
        return true;
    }

    public long Poll(long nowTimestamp) => long.MaxValue;
}
