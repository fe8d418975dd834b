using Vessel.Fuzz;
using Xunit.Abstractions;

namespace Vessel.Hostile.Tests;

/// <summary>Every fuzz target of fuzz/Vessel.Fuzz on its seeds and a few thousand deterministic mutations of
/// them: any exception other than the parser's clean refusal fails the test with the seed and case to replay
/// (`vessel-fuzz mutate NAME CASES SEED`). VESSEL_FUZZ_SEED picks another seed.</summary>
[Trait("Category", "Hostile")]
public class SeededMutationTests(ITestOutputHelper output)
{
    private const int Cases = 4000;
    private const int DefaultSeed = 20261207;

    public static TheoryData<string> Targets => [.. FuzzTargets.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Mutated_inputs_only_ever_fail_cleanly(string name)
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("VESSEL_FUZZ_SEED"), out int s) ? s : DefaultSeed;
        output.WriteLine($"{name}: {Cases} mutated cases from seed {seed}");
        MutationRun.Run(FuzzTargets.Find(name)!, Cases, seed);
    }

    [Fact]
    public void Target_names_are_unique_and_each_has_seeds()
    {
        Assert.Equal(FuzzTargets.All.Count, FuzzTargets.All.Select(t => t.Name).Distinct().Count());
        Assert.All(FuzzTargets.All, t => Assert.NotEmpty(t.Seeds()));
    }

    [Fact]
    public void A_target_that_throws_is_reported_with_its_seed_and_case()
    {
        int calls = 0;
        var target = new FuzzTarget("throws-on-third", "test", _ => { if (++calls == 3) throw new IndexOutOfRangeException("boom"); }, () => [[1, 2, 3]]);
        var finding = Assert.Throws<FuzzFinding>(() => MutationRun.Run(target, 10, 7));
        Assert.Contains("case 1 of seed 7", finding.Message);
        Assert.IsType<IndexOutOfRangeException>(finding.InnerException);
    }
}
