namespace Vessel.Cpu.Tests.Core;

/// <summary>A page an instruction runs into carries the page it started in as a dependent: a write to it leaves the
/// blocks of both stale, once; the first page alone, or a page with no dependents, does not drag the other along.</summary>
public class CodePageDependentTests
{
    private const ulong First = 0x9000, Second = 0x3000, Unrelated = 0x5000;

    private static CodePageMap NewMap()
    {
        var map = new CodePageMap();
        map.Resize(1 << 20);
        return map;
    }

    [Fact]
    public void A_write_to_the_second_page_bumps_the_first_pages_generation_too()
    {
        CodePageMap map = NewMap();
        long first = map.MarkCode(First + 0xFFE);
        long second = map.MarkCodeRunningInto(Second + 1, First + 0xFFE, out bool newlyWatched);
        long unrelated = map.MarkCode(Unrelated);
        Assert.True(newlyWatched);

        map.Invalidate(Second + 0x800);

        Assert.NotEqual(second, map.Generation(Second));
        Assert.NotEqual(first, map.Generation(First));
        Assert.False(map.IsCode(First)); // nothing valid is left on it to protect
        Assert.Equal(unrelated, map.Generation(Unrelated));
    }

    [Fact]
    public void The_dependency_goes_with_the_write_that_used_it_and_a_write_to_the_first_page_leaves_the_second()
    {
        CodePageMap map = NewMap();
        map.MarkCode(First);
        map.MarkCodeRunningInto(Second, First, out _);
        map.Invalidate(Second);

        // Decoded again, without the crossing instruction this time: the second page's next write is its own.
        long first = map.MarkCode(First);
        long second = map.MarkCode(Second);
        map.Invalidate(Second);
        Assert.Equal(first, map.Generation(First));
        Assert.True(map.IsCode(First));

        map.MarkCode(Second);
        map.MarkCodeRunningInto(Second, First, out _);
        second = map.Generation(Second);
        map.Invalidate(First);
        Assert.Equal(second, map.Generation(Second));
        Assert.True(map.IsCode(Second));
    }
}
