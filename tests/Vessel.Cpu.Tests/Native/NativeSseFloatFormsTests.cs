using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using Vessel.Cpu.Native;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The floating-point SSE forms the native tier re-hosts (<see cref="NativeSseFloatForms"/>) in random
/// long-mode programs over edge values (NaNs with payloads, signalling NaNs, infinities, denormals, signed zeros,
/// integers at the conversions' limits), under MXCSRs with every rounding mode, DAZ and FTZ and sticky flags already
/// set, changed in the middle of the program: registers, XMM registers, MXCSR, the flags (COMISx), memory and the
/// instruction count must agree with the interpreter's, and with an exception unmasked both must stop with #XM at
/// the same instruction.</summary>
public class NativeSseFloatFormsTests(ITestOutputHelper output)
{
    private const ulong Data = SseNativeGuest.Data;
    private const int FlagLog = 0x2800, MxcsrSlots = 0x2E00, Counter = 0x2F00;
    private const int Rounds = 3;

    private static readonly Code[] Forms = NativeSseFormsTests.GeneratedForms(NativeSseFloatForms.Contains);

    private static readonly ulong[] DoubleEdges =
    [
        0, 0x8000_0000_0000_0000, 0x3FF0_0000_0000_0000, 0xBFF8_0000_0000_0000, 0x4004_0000_0000_0000, 0xC004_0000_0000_0000,
        0x3FE0_0000_0000_0000, 0x3FD5_5555_5555_5555, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0xFFF8_0000_0000_0000,
        0x7FF8_0000_0000_1234, 0x7FF0_0000_0000_0001, 0xFFF4_0000_0000_5678, 0x0000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF,
        0x800A_BCDE_F012_3456, 0x7FEF_FFFF_FFFF_FFFF, 0xFFEF_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000, 0x0010_0000_0000_0001,
        0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0x41DF_FFFF_FFE0_0000, 0x43E0_0000_0000_0000, 0xC3E0_0000_0000_0000,
        0x43DF_FFFF_FFFF_FFFF, 0x4340_0000_0000_0001, 0x3690_0000_0000_0000, 0x47F0_0000_0000_0000, 0x380F_FFFF_F000_0000,
    ];

    private static readonly uint[] SingleEdges =
    [
        0, 0x8000_0000, 0x3F80_0000, 0xBFC0_0000, 0x4020_0000, 0xC020_0000, 0x3F00_0000, 0x3EAA_AAAB, 0x7F80_0000,
        0xFF80_0000, 0xFFC0_0000, 0x7FC0_1234, 0x7F80_0001, 0xFFA0_5678, 0x0000_0001, 0x007F_FFFF, 0x8055_5555,
        0x7F7F_FFFF, 0xFF7F_FFFF, 0x0080_0000, 0x0080_0001, 0x4F00_0000, 0xCF00_0000, 0x4EFF_FFFF, 0x5F00_0000,
        0xDF00_0000, 0x5EFF_FFFF, 0x1E80_0000, 0x6080_0000,
    ];

    private static readonly ulong[] IntegerEdges =
    [
        0, 1, ulong.MaxValue, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF_8000_0000, 0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF,
        0x0020_0000_0000_0001, 0x7FFF_FFFF_FFFF_FE00, 0x0000_0000_0100_0001, 0xFFFF_FFFF_FEFF_FFFF,
    ];

    [Fact]
    public void Every_rehosted_floating_point_mnemonic_has_a_generated_form()
    {
        var uncovered = NativeSseFloatForms.All.Except(Forms.Select(c => c.Mnemonic())).ToArray();
        Assert.True(uncovered.Length == 0, $"no generated form for {string.Join(", ", uncovered)}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Random_programs_of_floating_point_forms_agree_with_the_interpreter(int seedGroup)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_SSE_FLOAT_SEED") is { } s ? int.Parse(s) : seedGroup * 1000;
        for (int i = 0; i < 20; i++)
        {
            int seed = baseSeed + i;
            var interpreted = Run(NativeTierTests.InterpreterOptions, seed, unmask: false);
            var native = Run(NativeTierTests.NativeOptions, seed, unmask: false);
            if (interpreted with { Steps = 0, Translations = 0 } != native with { Steps = 0, Translations = 0 })
                output.WriteLine($"seed {seed} (VESSEL_SSE_FLOAT_SEED={seed}) disagrees");
            SseNativeGuest.AssertSameState(interpreted, native);
            Assert.Equal(ulong.MaxValue, native.FaultVector);
            Assert.True(native.Translations >= 1, $"seed {seed}: nothing translated");
            // The forms run translated: only the LDMXCSRs and the first touches of a page (TLB misses) are handed back.
            if (Bmi2.IsSupported)
                Assert.True(native.Steps * 4 < (long)native.Retired, $"seed {seed}: {native.Steps} of {native.Retired} handed back");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void With_an_exception_unmasked_both_raise_xm_at_the_same_instruction(int seedGroup)
    {
        int faults = 0;
        for (int i = 0; i < 15; i++)
        {
            int seed = 50_000 + seedGroup * 1000 + i;
            var interpreted = Run(NativeTierTests.InterpreterOptions, seed, unmask: true);
            var native = Run(NativeTierTests.NativeOptions, seed, unmask: true);
            if (interpreted with { Steps = 0, Translations = 0 } != native with { Steps = 0, Translations = 0 })
                output.WriteLine($"seed {seed} disagrees");
            SseNativeGuest.AssertSameState(interpreted, native);
            if (native.FaultVector == 19) faults++;
        }
        Assert.True(faults >= 5, $"only {faults} programs raised #XM");
    }

    [Fact]
    public void A_loop_of_the_common_double_forms_runs_translated_without_handing_them_back()
    {
        // What busybox awk runs per number: integer to double, multiply, divide, compare, truncate back.
        static void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 300);
            a.Label(ref top);
            a.cvtsi2sd(xmm0, rcx);
            a.mulsd(xmm0, __qword_ptr[rbx + 0x10]);
            a.addsd(xmm1, xmm0);
            a.divsd(xmm0, __qword_ptr[rbx + 0x18]);
            a.sqrtsd(xmm2, xmm1);
            a.cvttsd2si(rax, xmm2);
            a.cvtsd2si(edx, xmm0);
            a.cvtsd2ss(xmm3, xmm2);
            a.cvtss2sd(xmm4, xmm3);
            a.maxsd(xmm4, xmm0);
            a.ucomisd(xmm0, xmm1);
            a.seta(__byte_ptr[rbx + rcx + 0x100]);
            a.comisd(xmm1, __qword_ptr[rbx + 0x18]);
            a.jb(done);
            a.add(r8, rax);
            a.add(r9, rdx);
            a.Label(ref done);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        var counts = new List<long>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            g.Guest.WriteU64(Data + 0x10, BitConverter.DoubleToUInt64Bits(1.0 / 3));
            g.Guest.WriteU64(Data + 0x18, BitConverter.DoubleToUInt64Bits(7.25));
            outcomes.Add(g.Run(Program));
            counts.Add(g.Cpu.NativeEntries);
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.Equal(ulong.MaxValue, outcomes[1].FaultVector);
        Assert.NotEqual(0x1F80u, outcomes[1].Mxcsr); // PE at least: the sticky flags came back from the host
        Assert.True(counts[1] >= 2, $"{counts[1]} entries into translated code");
        // Only the first touches of the data page (TLB misses) go to the interpreter.
        Assert.True(outcomes[1].Steps < 20, $"{outcomes[1].Steps} instructions handed back");
    }

    [Fact]
    public void The_guest_rounding_mode_stays_out_of_the_host_once_translated_code_returns()
    {
        // The guest rounds up (each 1 + 1e-20 one ulp more), flushes to zero and treats denormals as zero while its
        // loop runs translated; the managed code after the run must round to nearest again, and keep a denormal.
        static void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rbx, Data);
            a.ldmxcsr(__dword_ptr[rbx + MxcsrSlots]);
            a.movsd(xmm0, __qword_ptr[rbx + 0x20]);
            a.movsd(xmm1, __qword_ptr[rbx + 0x28]);
            a.mov(ecx, 200);
            a.Label(ref top);
            a.addsd(xmm0, __qword_ptr[rbx + 0x10]);
            a.mulsd(xmm1, __qword_ptr[rbx + 0x18]);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            g.Guest.WriteU32(Data + MxcsrSlots, 0x1F80 | 2 << 13 | 0x8040);
            g.Guest.WriteU64(Data + 0x10, BitConverter.DoubleToUInt64Bits(1e-20));
            g.Guest.WriteU64(Data + 0x18, BitConverter.DoubleToUInt64Bits(0.5));
            g.Guest.WriteU64(Data + 0x20, BitConverter.DoubleToUInt64Bits(1.0));
            g.Guest.WriteU64(Data + 0x28, BitConverter.DoubleToUInt64Bits(1e-300));
            outcomes.Add(g.Run(Program));
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.True(outcomes[1].Steps < 10, $"{outcomes[1].Steps} instructions handed back");

        double one = Volatile.Read(ref _one), tiny = Volatile.Read(ref _tiny);
        Assert.Equal(1.0, one + tiny); // to nearest, not up
        Assert.Equal(0x0008_0000_0000_0000UL, BitConverter.DoubleToUInt64Bits(Volatile.Read(ref _minNormal) * Volatile.Read(ref _half))); // no FTZ
    }

    private static double _one = 1.0, _tiny = 1e-20, _minNormal = 2.2250738585072014e-308, _half = 0.5;

    private static SseNativeGuest.Outcome Run(EmuOptions options, int seed, bool unmask)
    {
        var random = new Random(seed);
        using var g = new SseNativeGuest(options);
        g.Guest.Memory.Write(Data, EdgeBytes(random, SseNativeGuest.DataBytes));
        for (int k = 0; k < 8; k++) g.Guest.WriteU32(Data + MxcsrSlots + (ulong)k * 4, RandomMxcsr(random, unmask && k == 0));
        byte[] xmm = EdgeBytes(random, 256);
        return g.Run(a => EmitProgram(a, random), xmm);
    }

    /// <summary>Rounding control, DAZ, FTZ and sticky flags at random, every exception masked unless
    /// <paramref name="unmask"/> (then one or two of them clear).</summary>
    private static uint RandomMxcsr(Random random, bool unmask)
    {
        uint m = 0x1F80 | (uint)random.Next(4) << 13 | (uint)random.Next(0x40) & (uint)(random.Next(3) == 0 ? 0x3F : 0);
        if (random.Next(3) == 0) m |= 0x40;   // DAZ
        if (random.Next(3) == 0) m |= 0x8000; // FTZ
        if (unmask)
        {
            m &= ~(1u << (7 + random.Next(6)));
            if (random.Next(2) == 0) m &= ~(1u << (7 + random.Next(6)));
        }
        return m;
    }

    /// <summary>8-byte lanes, each a double edge value, two single ones, an integer edge, a small random double or
    /// random bits.</summary>
    private static byte[] EdgeBytes(Random random, int count)
    {
        var bytes = new byte[count];
        for (int at = 0; at + 8 <= count; at += 8)
        {
            ulong lane = random.Next(6) switch
            {
                0 or 1 => DoubleEdges[random.Next(DoubleEdges.Length)],
                2 => SingleEdges[random.Next(SingleEdges.Length)] | (ulong)SingleEdges[random.Next(SingleEdges.Length)] << 32,
                3 => IntegerEdges[random.Next(IntegerEdges.Length)],
                4 => BitConverter.DoubleToUInt64Bits((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-1100, 1100))),
                _ => (ulong)random.NextInt64() ^ (ulong)random.Next() << 63,
            };
            BitConverter.TryWriteBytes(bytes.AsSpan(at), lane);
        }
        return bytes;
    }

    private static void EmitProgram(Assembler a, Random random)
    {
        a.mov(rbx, Data);
        a.ldmxcsr(__dword_ptr[rbx + MxcsrSlots]);
        a.mov(esi, random.Next(0x10) * 8); // RSI*2: a multiple of 16
        foreach (Register r in NativeSseFormsTests.Gprs)
        {
            ulong value = random.Next(2) == 0 ? IntegerEdges[random.Next(IntegerEdges.Length)] : (ulong)random.NextInt64();
            a.AddInstruction(Instruction.Create(Code.Mov_r64_imm64, r, value));
        }
        a.push(random.Next() & 0x8D5);
        a.popfq();
        a.mov(__dword_ptr[rbx + Counter], Rounds);
        var top = a.CreateLabel();
        a.Label(ref top);
        for (int i = 0; i < 40; i++)
        {
            a.AddInstruction(NativeSseFormsTests.RandomForm(random, Forms));
            switch (random.Next(12))
            {
                case 0 or 1 or 2:
                    a.pushfq();
                    a.pop(r13);
                    a.mov(__qword_ptr[rbx + FlagLog + (i % 64) * 8], r13);
                    break;
                case 3:
                    // Another rounding mode or DAZ/FTZ in the middle of the block (the first slot may unmask).
                    a.ldmxcsr(__dword_ptr[rbx + MxcsrSlots + 4 * random.Next(1, 8)]);
                    break;
            }
        }
        a.dec(__dword_ptr[rbx + Counter]);
        a.jnz(top);
        a.hlt();
    }
}
