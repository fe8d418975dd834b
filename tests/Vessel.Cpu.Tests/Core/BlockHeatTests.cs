using System.Diagnostics;

namespace Vessel.Cpu.Tests.Core;

/// <summary>A block compiles after a threshold of runs within one heat epoch; an idle vCPU's halts end epochs.</summary>
public class BlockHeatTests
{
    private const int Threshold = 64;

    [Fact]
    public void ABlockRunningThresholdTimesWithoutAHaltIsHot()
    {
        var heat = new BlockHeat();
        var block = new DecodedBlock();
        for (int i = 1; i < Threshold; i++) Assert.False(heat.CountRun(block, Threshold));
        Assert.True(heat.CountRun(block, Threshold));
    }

    [Fact]
    public void HaltsCloserThanAnEpochDoNotResetTheCount()
    {
        var heat = new BlockHeat();
        var block = new DecodedBlock();
        long now = BlockHeat.EpochTicks; // the first halt one epoch after time zero begins epoch 1
        heat.NoteHalt(now);
        bool hot = false;
        for (int i = 0; i < Threshold; i++)
        {
            hot = heat.CountRun(block, Threshold);
            heat.NoteHalt(now + i * (BlockHeat.EpochTicks / (2 * Threshold))); // all within half an epoch
        }
        Assert.True(hot);
    }

    [Fact]
    public void ABlockRunOncePerIdleWakeNeverBecomesHot()
    {
        var heat = new BlockHeat();
        var block = new DecodedBlock();
        long now = 0;
        for (int wake = 0; wake < 10 * Threshold; wake++)
        {
            Assert.False(heat.CountRun(block, Threshold));
            now += BlockHeat.EpochTicks * 5 / 2; // four wakes a second, as a NO_HZ idle Linux CPU
            heat.NoteHalt(now);
        }
    }

    [Fact]
    public void ThresholdOneCompilesOnTheFirstRunWhateverTheEpoch()
    {
        var heat = new BlockHeat();
        var block = new DecodedBlock();
        heat.NoteHalt(Stopwatch.GetTimestamp());
        Assert.True(heat.CountRun(block, 1));
    }
}
