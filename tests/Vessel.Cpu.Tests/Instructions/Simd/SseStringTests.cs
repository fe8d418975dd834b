using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM on the emu CPU against the host for every imm8, with
/// random strings over a small alphabet (so that elements match), embedded terminators and random lengths.</summary>
[Collection("HostCpu")]
public class SseStringTests
{
    private const ulong FlagMask = RflagsBits.Cf | RflagsBits.Pf | RflagsBits.Af | RflagsBits.Zf | RflagsBits.Sf | RflagsBits.Of;

    private static Vector128<byte> RandomString(Random r)
    {
        var bytes = new byte[16];
        int style = r.Next(4);
        for (int i = 0; i < 16; i++)
            bytes[i] = style switch
            {
                0 => (byte)r.Next(256),
                1 => (byte)(0x7E + r.Next(4)),   // straddles the signed/unsigned boundary
                2 => (byte)(r.Next(3) == 0 ? 0 : r.Next(1, 4)),
                _ => (byte)"abcab\x80\xFF"[r.Next(7)],
            };
        if (r.Next(3) == 0) bytes[r.Next(16)] = 0;
        if (r.Next(4) == 0) { bytes[r.Next(8) * 2] = 0; bytes[r.Next(8) * 2 + 1] = 0; }
        return Vector128.Create(bytes);
    }

    private static int RandomLength(Random r) => r.Next(6) switch
    {
        0 => r.Next(-20, 21),
        1 => r.Next(),
        2 => int.MinValue,
        3 => -r.Next(0, 17),
        _ => r.Next(0, 17),
    };

    public static TheoryData<int> Forms() => new(0, 1, 2, 3);

    [Theory]
    [MemberData(nameof(Forms))]
    public void EveryImmediateMatchesTheHost(int form)
    {
        var rng = new Random(4242 + form);
        using var host = new HostSse();
        using var g = new SseGuest();
        for (int imm = 0; imm < 256; imm++)
        {
            for (int round = 0; round < 6; round++)
            {
                byte k = (byte)imm;
                int lenA = RandomLength(rng), lenB = RandomLength(rng);
                Vector128<byte> a = RandomString(rng), b = RandomString(rng);
                if (round == 0) b = a;
                if (round == 1) b = Vector128.Create(a.AsUInt64().GetElement(1), a.AsUInt64().GetElement(0)).AsByte();
                Action<Assembler> emit = asm =>
                {
                    asm.mov(edx, (uint)lenB);
                    asm.mov(ecx, 0x5555);
                    switch (form)
                    {
                        case 0: asm.pcmpestri(xmm0, xmm1, k); break;
                        case 1: asm.pcmpestrm(xmm0, xmm1, k); break;
                        case 2: asm.pcmpistri(xmm0, xmm1, k); break;
                        default: asm.pcmpistrm(xmm0, xmm1, k); break;
                    }
                    asm.mov(eax, ecx);
                };
                var hs = host.Run(emit, new HostSse.State { Xmm0 = a, Xmm1 = b, MxcsrIn = 0x1F80, Rax = (uint)lenA });
                var es = g.Run(a2 => { a2.mov(eax, (uint)lenA); emit(a2); }, new[] { a, b });
                Registers regs = g.Vcpu.GetRegisters();
                string ctx = $"form {form} imm {imm:X2} a={a} b={b} lenA={lenA} lenB={lenB}";
                Assert.True(hs.Xmm0 == SseGuest.Xmm(es, 0), $"{ctx}: host xmm0 {hs.Xmm0} emu {SseGuest.Xmm(es, 0)}");
                Assert.True((uint)hs.Rax == (uint)regs.Rax, $"{ctx}: host ecx {(uint)hs.Rax} emu {(uint)regs.Rax}");
                Assert.True((hs.Rflags & FlagMask) == (regs.Rflags & FlagMask), $"{ctx}: host flags {hs.Rflags & FlagMask:X} emu {regs.Rflags & FlagMask:X}");
            }
        }
    }

    [Fact]
    public void MemoryOperandNeedsNoAlignment()
    {
        using var g = new SseGuest();
        var hay = "xxhello worldxxxyy"u8.ToArray();
        g.Memory.Write(SseGuest.DataAddress + 3, hay);
        var needle = Vector128.Create("world\0\0\0\0\0\0\0\0\0\0\0"u8);
        g.Run(a => a.pcmpistri(xmm0, __xmmword_ptr[SseGuest.DataAddress + 3], 0x0C), new[] { needle });
        Assert.Equal("", g.Exceptions);
        Assert.Equal(8UL, g.Vcpu.GetRegisters().Rcx);
    }
}
