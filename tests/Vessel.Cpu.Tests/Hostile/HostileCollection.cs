namespace Vessel.Cpu.Tests.Hostile;

/// <summary>Hostile guests that measure the host process (its resident set, its threads) run alone, after the
/// parallel tests, so that other tests' allocations do not count against them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostileCollection
{
    public const string Name = "Hostile (measures the host process)";
}
