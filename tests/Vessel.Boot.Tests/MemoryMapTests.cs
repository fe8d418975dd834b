namespace Vessel.Boot.Tests;

public class MemoryMapTests
{
    private const ulong MiB = 1 << 20, GiB = 1 << 30;

    [Fact]
    public void PcLayoutWithSmallRamHasLowRamTheBiosHoleAndRamFromOneMiB()
    {
        var map = MemoryMap.ForPc(16 * MiB);
        Assert.Equal(
            [new(0, 0x9FC00, MemoryType.Ram), new(0x9FC00, 0x60400, MemoryType.Reserved), new(MiB, 15 * MiB, MemoryType.Ram)],
            map.Entries);
        Assert.Equal(639u, map.LowerMemoryKiB);
        Assert.Equal(15u * 1024, map.UpperMemoryKiB);
        Assert.Equal(16 * MiB - 0x60400, map.TotalRamBytes);
    }

    [Fact]
    public void PcLayoutAbove3GiBContinuesAt4GiB()
    {
        var map = MemoryMap.ForPc(5 * GiB);
        Assert.Equal(new MemoryMapEntry(MiB, 3 * GiB - MiB, MemoryType.Ram), map.Entries[2]);
        Assert.Equal(new MemoryMapEntry(4 * GiB, 2 * GiB, MemoryType.Ram), map.Entries[3]);
        Assert.Equal((uint)((3 * GiB - MiB) / 1024), map.UpperMemoryKiB);
        Assert.False(map.IsRamRange(3 * GiB, 3 * GiB + 1));
        Assert.True(map.IsRamRange(4 * GiB, 6 * GiB));
        Assert.False(map.IsRamRange(4 * GiB, 6 * GiB + 1));
    }

    [Fact]
    public void ExactlyOneMiBHasNoUpperMemory()
    {
        var map = MemoryMap.ForPc(MiB);
        Assert.Equal(2, map.Entries.Count);
        Assert.Equal(0u, map.UpperMemoryKiB);
    }

    [Theory]
    [InlineData(0x0UL, 0x9FC00UL, true)]
    [InlineData(0x9FBFFUL, 0x9FC00UL, true)]
    [InlineData(0x9FB00UL, 0x9FD00UL, false)] // runs into the BIOS hole
    [InlineData(0xA0000UL, 0xA0001UL, false)]
    [InlineData(0x100000UL, 0x1000000UL, true)]
    [InlineData(0x100000UL, 0x1000001UL, false)] // past the end of RAM
    [InlineData(0x5000UL, 0x5000UL, true)] // empty
    [InlineData(0x5000UL, 0x4000UL, false)] // reversed
    public void IsRamRangeAnswersForTheWholeRange(ulong start, ulong end, bool expected) =>
        Assert.Equal(expected, MemoryMap.ForPc(16 * MiB).IsRamRange(start, end));

    [Fact]
    public void AdjacentRamEntriesCountAsOneRange()
    {
        var map = new MemoryMap([new(0x1000, 0x1000, MemoryType.Ram), new(0, 0x1000, MemoryType.Ram)]);
        Assert.True(map.IsRamRange(0, 0x2000));
        Assert.Equal(0UL, map.Entries[0].Start); // sorted
        Assert.Equal(8u, map.LowerMemoryKiB);
    }

    [Fact]
    public void OverlappingOrEmptyEntriesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new MemoryMap([new(0, 0x2000, MemoryType.Ram), new(0x1000, 0x1000, MemoryType.Reserved)]));
        Assert.Throws<ArgumentException>(() => new MemoryMap([new(0, 0, MemoryType.Ram)]));
        Assert.Throws<ArgumentException>(() => new MemoryMap([new(ulong.MaxValue, 2, MemoryType.Ram)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryMap.ForPc(MiB - 4096));
    }
}
