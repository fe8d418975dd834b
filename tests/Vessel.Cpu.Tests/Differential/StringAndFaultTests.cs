using Iced.Intel;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>String instructions against the host, and #DE on the emulator only (the host would kill the process).</summary>
public sealed class StringAndFaultTests(DifferentialFixture fixture, ITestOutputHelper output) : IClassFixture<DifferentialFixture>
{
    private const int FixedCases = 100, RandomCases = 30;
    private DifferentialRunner Runner => fixture.Runner;

    public static TheoryData<string> StringForms()
    {
        var data = new TheoryData<string>();
        foreach (var f in StringCases.Forms()) data.Add(f.ToString());
        return data;
    }

    [Theory, MemberData(nameof(StringForms))]
    public void StringInstruction(string name)
    {
        StringCases.Form form = StringCases.Forms().Single(f => f.ToString() == name);
        int seed = DifferentialRunner.RandomSeed();
        output.WriteLine($"{name}: random batch seed {seed} (replay with VESSEL_DIFF_SEED={seed})");
        foreach (var (s, cases) in new[] { (DifferentialRunner.FixedSeed, FixedCases), (seed, RandomCases) })
        {
            var random = new Random(unchecked(s * 7919 + StableHash(name)));
            for (int i = 0; i < cases; i++)
            {
                DiffCase c = StringCases.Generate(form, Runner.Native.WindowBase, random);
                string? failure = Runner.Check(c, compiled: false);
                Assert.True(failure == null, $"seed {s} (VESSEL_DIFF_SEED={s}) case {i}: {failure}");
            }
        }
    }

    private static int StableHash(string text)
    {
        int h = 17;
        foreach (char ch in text) h = unchecked(h * 31 + ch);
        return h;
    }

    public static TheoryData<string, int> DivideErrorForms()
    {
        var data = new TheoryData<string, int>();
        foreach (string m in new[] { "div", "idiv" })
            foreach (int bits in new[] { 8, 16, 32, 64 })
                data.Add(m, bits);
        return data;
    }

    /// <summary>#DE for a zero divisor and for a quotient that does not fit, from a register and from memory:
    /// the fault leaves every register, the flags and the memory as they were, and the frame points at the DIV.</summary>
    [Theory, MemberData(nameof(DivideErrorForms))]
    public void DivideErrorFaultsWithoutSideEffects(string mnemonic, int bits)
    {
        bool signed = mnemonic == "idiv";
        var random = new Random(bits * 2 + (signed ? 1 : 0));
        ulong mask = EdgeValues.Mask(bits);
        for (int i = 0; i < 40; i++)
        {
            bool fromMemory = i % 2 == 1;
            bool zero = i % 4 < 2;
            var input = new CpuState { Rflags = EdgeValues.Flags(random) };
            for (int r = 0; r < 16; r++) input.Gpr[r] = EdgeValues.Full(random);
            input.Gpr[4] = Runner.Native.WindowBase + WindowLayout.StackTop;
            input.Gpr[3] = Runner.Native.WindowBase + WindowLayout.MemoryCenter;
            var window = new byte[WindowLayout.WindowBytes];
            random.NextBytes(window);
            ulong divisor = zero ? 0 : signed ? mask : 1 + (ulong)random.Next(100); // -1 for IDIV
            if (fromMemory) Location.Mem(WindowLayout.MemoryCenter, bits / 8).Set(input, window, divisor);
            else Location.Reg(1, bits / 8).Set(input, window, divisor);
            if (!zero)
            {
                // Unsigned: high half >= divisor. Signed: the most negative dividend divided by -1.
                var lo = Location.Reg(0, bits == 8 ? 1 : bits / 8);
                var hi = bits == 8 ? Location.Reg(0, 1, highByte: true) : Location.Reg(2, bits / 8);
                if (signed) { lo.Set(input, window, 0); hi.Set(input, window, 1UL << (bits - 1)); }
                else hi.Set(input, window, divisor + (ulong)random.Next(150));
            }
            byte[] code = Assemble(a => Emit(a, signed, bits, fromMemory));

            foreach (EmulatorExecutor emulator in Runner.Emulators)
            {
                byte[] after = (byte[])window.Clone();
                EmulatorOutcome outcome = emulator.Run(code, input, after);
                string what = $"{mnemonic} {bits}-bit {(fromMemory ? "memory" : "register")} {(zero ? "zero" : "overflow")} case {i}";
                Assert.True(outcome.ExceptionVector == 0, $"{what}: vector {outcome.ExceptionVector} {outcome.Error}");
                for (int r = 0; r < 16; r++)
                    if (r != 4) Assert.True(input.Gpr[r] == outcome.State.Gpr[r], $"{what}: {CpuState.Names[r]} changed");
                ulong frame = outcome.State.Gpr[4];
                Assert.Equal(input.Gpr[4] - 40, frame);
                Assert.Equal(0x10000UL, emulator.ReadWindowQword(frame)); // RIP of the DIV
                Assert.Equal(input.Rflags & CpuState.ComparedFlags, emulator.ReadWindowQword(frame + 16) & CpuState.ComparedFlags);
                Assert.True(window.AsSpan(0, WindowLayout.StackTop - 64).SequenceEqual(after.AsSpan(0, WindowLayout.StackTop - 64)), $"{what}: memory changed");
            }
        }
    }

    private static void Emit(Assembler a, bool signed, int bits, bool fromMemory)
    {
        switch (bits, fromMemory)
        {
            case (8, false): if (signed) a.idiv(cl); else a.div(cl); break;
            case (16, false): if (signed) a.idiv(cx); else a.div(cx); break;
            case (32, false): if (signed) a.idiv(ecx); else a.div(ecx); break;
            case (64, false): if (signed) a.idiv(rcx); else a.div(rcx); break;
            case (8, true): if (signed) a.idiv(__byte_ptr[rbx]); else a.div(__byte_ptr[rbx]); break;
            case (16, true): if (signed) a.idiv(__word_ptr[rbx]); else a.div(__word_ptr[rbx]); break;
            case (32, true): if (signed) a.idiv(__dword_ptr[rbx]); else a.div(__dword_ptr[rbx]); break;
            default: if (signed) a.idiv(__qword_ptr[rbx]); else a.div(__qword_ptr[rbx]); break;
        }
    }

    private static byte[] Assemble(Action<Assembler> build) => GuestCode.Assemble(64, 0x1000, build);
}
