using Iced.Intel;
using RflagsBits = Vessel.Hypervisor.RflagsBits;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The harness itself: both executors really run code, and a disagreement is reported.</summary>
public sealed class HarnessTests(DifferentialFixture fixture) : IClassFixture<DifferentialFixture>
{
    private DifferentialRunner Runner => fixture.Runner;

    private static byte[] Assemble(Action<Assembler> build) => GuestCode.Assemble(64, 0x1000, build);

    private CpuState Input()
    {
        var s = new CpuState { Rflags = CpuState.FixedFlags };
        s.Gpr[0] = 0xFFFF_FFFF_FFFF_FFFF;
        s.Gpr[1] = 2;
        s.Gpr[3] = Runner.Native.WindowBase + 16;
        s.Gpr[4] = Runner.Native.WindowBase + WindowLayout.StackTop;
        return s;
    }

    private static readonly byte[] AddAndStore = Assemble(a =>
    {
        a.add(rax, rcx);
        a.mov(__qword_ptr[rbx], rax);
        a.push(rcx);
    });

    private void AssertAddAndStore(CpuState output, byte[] window)
    {
        Assert.Equal(1UL, output.Gpr[0]);
        Assert.Equal(RflagsBits.Cf, output.Rflags & (RflagsBits.Cf | RflagsBits.Zf | RflagsBits.Sf));
        Assert.Equal(1UL, BitConverter.ToUInt64(window, 16));
        Assert.Equal(2UL, BitConverter.ToUInt64(window, WindowLayout.StackTop - 8));
        Assert.Equal(Runner.Native.WindowBase + WindowLayout.StackTop - 8, output.Gpr[4]);
    }

    [Fact]
    public void HostCpuRunsTheBytesOnTheWindow()
    {
        var window = new byte[WindowLayout.WindowBytes];
        CpuState output = Runner.Native.Run(AddAndStore, Input(), window);
        AssertAddAndStore(output, window);
    }

    [Fact]
    public void EmulatorRunsTheBytesAtTheSameAddresses()
    {
        var window = new byte[WindowLayout.WindowBytes];
        EmulatorOutcome outcome = Runner.Interpreter.Run(AddAndStore, Input(), window);
        Assert.Null(outcome.Error);
        Assert.Equal(-1, outcome.ExceptionVector);
        AssertAddAndStore(outcome.State, window);
    }

    [Fact]
    public void DisagreementIsReported()
    {
        // CPUID answers differ between the host and the emulator's CPU model.
        byte[] code = Assemble(a => a.cpuid());
        var input = Input();
        input.Gpr[0] = 0;
        var c = new DiffCase
        {
            Instruction = Instruction.Create(Code.Cpuid), Code = code, Input = input, Window = new byte[WindowLayout.WindowBytes],
        };
        Assert.Contains("rbx host", Runner.Check(c));
    }

    [Fact]
    public void EveryGroupHasForms()
    {
        Assert.True(GeneralPurposeForms.Of(GeneralPurposeForms.Arithmetic).Count() >= 13 * 4);
        Assert.Contains(Code.Cmpxchg16b_m128, GeneralPurposeForms.Of(GeneralPurposeForms.DataMovement));
        Assert.Contains(Code.Shld_rm16_r16_CL, GeneralPurposeForms.Of(GeneralPurposeForms.ShiftsAndRotates));
        Assert.Contains(Code.Imul_r64_rm64_imm32, GeneralPurposeForms.Of(GeneralPurposeForms.MultiplyDivide));
        Assert.Contains(Code.Btc_rm64_imm8, GeneralPurposeForms.Of(GeneralPurposeForms.BitOperations));
        Assert.Contains(Code.Enterq_imm16_imm8, GeneralPurposeForms.Of(GeneralPurposeForms.Stack));
    }
}
