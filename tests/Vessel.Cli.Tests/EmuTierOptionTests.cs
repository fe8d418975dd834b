using Vessel.Cpu;

namespace Vessel.Cli.Tests;

/// <summary>VESSEL_EMU_TIER's names: the software CPU's compiled tier for `vessel run`.</summary>
public class EmuTierOptionTests
{
    [Theory]
    [InlineData("native", EmuTier.Native)]
    [InlineData("IL", EmuTier.IL)]
    [InlineData("interp", EmuTier.Interpreter)]
    [InlineData("interpreter", EmuTier.Interpreter)]
    [InlineData(null, EmuTier.Automatic)]
    [InlineData("fast", EmuTier.Automatic)]
    public void Names_map_to_tiers(string? name, EmuTier tier) => Assert.Equal(tier, Backends.ParseTier(name));

    [Fact]
    public void Automatic_is_the_native_tier() => Assert.Equal(EmuTier.Native, new EmuOptions().ResolvedTier);
}
