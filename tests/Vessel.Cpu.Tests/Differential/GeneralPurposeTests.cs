using Iced.Intel;
using Xunit.Abstractions;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>One host CPU, two emulators, shared by every test of a class (xunit runs a class's tests in order).</summary>
public sealed class DifferentialFixture : IDisposable
{
    internal DifferentialRunner Runner { get; } = new();
    public void Dispose() => Runner.Dispose();
}

/// <summary>Every general-purpose form runs on the host CPU and on the emulator from the same random inputs;
/// registers, the defined flags and the memory window must agree. Each form runs a fixed-seed batch (the same in
/// every CI run) and a batch from a fresh seed printed in the output; VESSEL_DIFF_SEED=n replays that batch.</summary>
public sealed class GeneralPurposeTests(DifferentialFixture fixture, ITestOutputHelper output) : IClassFixture<DifferentialFixture>
{
    private const int FixedCases = 100, RandomCases = 30;

    public static TheoryData<Code> ArithmeticForms => Data(GeneralPurposeForms.Arithmetic);
    public static TheoryData<Code> DataMovementForms => Data(GeneralPurposeForms.DataMovement);
    public static TheoryData<Code> ShiftForms => Data(GeneralPurposeForms.ShiftsAndRotates);
    public static TheoryData<Code> MultiplyDivideForms => Data(GeneralPurposeForms.MultiplyDivide);
    public static TheoryData<Code> BitForms => Data(GeneralPurposeForms.BitOperations);
    public static TheoryData<Code> StackForms => Data(GeneralPurposeForms.Stack);

    public static TheoryData<Code> LockForms => Data(GeneralPurposeForms.LockForms());

    private static TheoryData<Code> Data(Mnemonic[] mnemonics) => Data(GeneralPurposeForms.Of(mnemonics));

    private static TheoryData<Code> Data(IEnumerable<Code> codes)
    {
        var data = new TheoryData<Code>();
        foreach (Code c in codes) data.Add(c);
        return data;
    }

    [Theory, MemberData(nameof(ArithmeticForms))]
    public void Arithmetic(Code code) => Run(code, consumers: true);

    [Theory, MemberData(nameof(DataMovementForms))]
    public void DataMovement(Code code) => Run(code);

    [Theory, MemberData(nameof(ShiftForms))]
    public void ShiftsAndRotates(Code code) => Run(code);

    [Theory, MemberData(nameof(MultiplyDivideForms))]
    public void MultiplyDivide(Code code) => Run(code);

    [Theory, MemberData(nameof(BitForms))]
    public void BitOperations(Code code) => Run(code);

    [Theory, MemberData(nameof(StackForms))]
    public void Stack(Code code) => Run(code);

    [Theory, MemberData(nameof(LockForms))]
    public void LockPrefixed(Code code) => Run(code, locked: true);

    /// <param name="consumers">Follow the instruction with Jcc/SETcc/CMOVcc reading its flags (it defines every
    /// flag a condition reads).</param>
    private void Run(Code code, bool locked = false, bool consumers = false)
    {
        var failures = fixture.Runner.RunForm(code, FixedCases, DifferentialRunner.FixedSeed, locked, consumers);
        int seed = DifferentialRunner.RandomSeed();
        output.WriteLine($"{code}: random batch seed {seed} (replay with VESSEL_DIFF_SEED={seed})");
        if (failures.Count == 0)
            failures = fixture.Runner.RunForm(code, RandomCases, seed, locked, consumers).Select(f => $"VESSEL_DIFF_SEED={seed}: {f}").ToList();
        else
            failures = failures.Select(f => $"fixed seed {DifferentialRunner.FixedSeed}: {f}").ToList();
        Assert.True(failures.Count == 0, $"{code} disagrees with the host:\n" + string.Join("\n", failures));
    }
}
