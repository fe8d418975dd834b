namespace Vessel.Cpu;

/// <summary>When a block is hot enough to translate: <c>threshold</c> runs within one heat epoch. A vCPU's epoch
/// ends when it halts at least <see cref="EpochTicks"/> after the epoch began, so a busy vCPU keeps counting
/// (boot translates as before) while an idle one forgets: the timer-interrupt path of an idle guest runs a few
/// times a second, and compiling it block by block as each reached the threshold was most of what an idle
/// guest cost the host (measured with the IL tier, retired 2026-12-07) — for code that runs too rarely to repay
/// its translation.</summary>
internal struct BlockHeat
{
    /// <summary>100 ms: a block is translated when it runs at least threshold × 10 times a second.</summary>
    public static readonly long EpochTicks = System.Diagnostics.Stopwatch.Frequency / 10;

    private long _epoch;
    private long _epochStart;

    /// <summary>The vCPU halts at Stopwatch timestamp <paramref name="now"/>.</summary>
    public void NoteHalt(long now)
    {
        if (now - _epochStart < EpochTicks) return;
        _epoch++;
        _epochStart = now;
    }

    /// <summary>Counts one run of <paramref name="block"/>; true when it has now run <paramref name="threshold"/>
    /// times in this epoch.</summary>
    public bool CountRun(DecodedBlock block, int threshold)
    {
        if (block.HeatEpoch != _epoch)
        {
            block.HeatEpoch = _epoch;
            block.ExecutionCount = 0;
        }
        return ++block.ExecutionCount >= threshold;
    }
}
