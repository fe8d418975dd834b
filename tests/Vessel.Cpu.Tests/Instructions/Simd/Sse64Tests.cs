using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>The 64-bit-mode forms (REX.W operands, XMM8-XMM15, PCMPESTRx with RAX/RDX lengths) on the emu CPU
/// in long mode against the host, with random 64-bit RAX and MXCSR rounding modes.</summary>
[Collection("HostCpu")]
public unsafe class Sse64Tests
{
    private const ulong StateAddress = 0x6000, CodeAddress = 0x1000;
    private const ulong FlagMask = RflagsBits.Cf | RflagsBits.Pf | RflagsBits.Zf | RflagsBits.Sf | RflagsBits.Of;

    private static readonly Dictionary<string, (Action<Assembler> Emit, bool Double)> Cases = new()
    {
        ["pextrq"] = (a => a.pextrq(rax, xmm1, 1), false),
        ["pinsrq"] = (a => a.pinsrq(xmm0, rax, 1), false),
        ["movq rax"] = (a => a.movq(xmm0, rax), false),
        ["movq to rax"] = (a => a.movq(rax, xmm1), false),
        ["cvtsi2sd r64"] = (a => a.cvtsi2sd(xmm0, rax), true),
        ["cvtsi2ss r64"] = (a => a.cvtsi2ss(xmm0, rax), false),
        ["cvtsd2si r64"] = (a => a.cvtsd2si(rax, xmm1), true),
        ["cvttsd2si r64"] = (a => a.cvttsd2si(rax, xmm1), true),
        ["cvtss2si r64"] = (a => a.cvtss2si(rax, xmm1), false),
        ["cvttss2si r64"] = (a => a.cvttss2si(rax, xmm1), false),
        ["crc32 r64"] = (a => { a.movq(rcx, xmm1); a.crc32(rax, rcx); }, false),
        ["popcnt r64"] = (a => { a.movq(rcx, xmm1); a.popcnt(rax, rcx); }, false),
        ["extractps r64"] = (a => { a.mov(rax, -1L); a.extractps(rax, xmm1, 3); }, false),
        ["pcmpestri64"] = (a => { a.mov(rdx, rax); a.shr(rdx, 7); a.pcmpestri64(xmm0, xmm1, 0x0C); a.mov(rax, rcx); }, false),
        ["pcmpestrm64"] = (a => { a.mov(rdx, rax); a.rol(rdx, 13); a.pcmpestrm64(xmm0, xmm1, 0x44); }, false),
        ["xmm8-15"] = (a =>
        {
            a.movdqa(xmm9, xmm0); a.movdqa(xmm14, xmm1); a.paddd(xmm9, xmm14); a.pshufb(xmm9, xmm14);
            a.addps(xmm14, xmm9); a.movdqa(xmm8, xmm14); a.pxor(xmm15, xmm15); a.por(xmm15, xmm8); a.movdqa(xmm0, xmm15);
        }, false),
    };

    public static TheoryData<string> Instructions() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Instructions))]
    public void MatchesTheHostInLongMode(string name)
    {
        var (op, dbl) = Cases[name];
        Action<Assembler> emit = a => { a.xor(edx, edx); op(a); }; // defined flags before the instruction
        var rng = new Random(name.Sum(c => c * 43) ^ 3);
        using var host = new HostSse();
        for (int i = 0; i < 60; i++)
        {
            uint mxcsr = 0x1F80 | (uint)rng.Next(4) << 13 | (rng.Next(3) == 0 ? 0x8040u : 0);
            var s = new HostSse.State
            {
                Xmm0 = SseFloatTests.RandomVector(rng, dbl), Xmm1 = SseFloatTests.RandomVector(rng, dbl), MxcsrIn = mxcsr,
                Rax = rng.Next(3) switch { 0 => (ulong)rng.NextInt64(), 1 => (ulong)rng.Next(-40, 40), _ => (ulong)rng.NextInt64() >> rng.Next(64) },
            };
            var buffer = new byte[64];
            HostSse.State hs;
            fixed (byte* p = buffer)
            {
                host.RunRaw(emit, p, s);
                hs = *(HostSse.State*)p;
            }
            HostSse.State es = RunEmulated(emit, s);
            string ctx = $"{name} xmm0={s.Xmm0} xmm1={s.Xmm1} rax={s.Rax:X} mxcsr={mxcsr:X}";
            Assert.True(hs.Xmm0 == es.Xmm0, $"{ctx}: host {hs.Xmm0} emu {es.Xmm0}");
            Assert.True(hs.Rax == es.Rax, $"{ctx}: host rax {hs.Rax:X} emu {es.Rax:X}");
            Assert.True(hs.MxcsrOut == es.MxcsrOut, $"{ctx}: host mxcsr {hs.MxcsrOut:X} emu {es.MxcsrOut:X}");
            Assert.True((hs.Rflags & FlagMask) == (es.Rflags & FlagMask), $"{ctx}: host flags {hs.Rflags & FlagMask:X} emu {es.Rflags & FlagMask:X}");
        }
    }

    /// <summary>Runs the same stub as <see cref="HostSse"/> (state block at RDI) in a long-mode guest.</summary>
    private static HostSse.State RunEmulated(Action<Assembler> body, HostSse.State s)
    {
        using var g = new PageTableGuest();
        g.IdentityMapLarge(0x20_0000);
        var block = new byte[64];
        fixed (byte* p = block) *(HostSse.State*)p = s;
        g.Memory.Write(StateAddress, block);
        g.Start64(CodeAddress, CodeAddress, a =>
        {
            a.ldmxcsr(__dword_ptr[rdi + 32]);
            a.movdqu(xmm0, __xmmword_ptr[rdi]);
            a.movdqu(xmm1, __xmmword_ptr[rdi + 16]);
            a.mov(rax, __qword_ptr[rdi + 48]);
            body(a);
            a.movdqu(__xmmword_ptr[rdi], xmm0);
            a.mov(__qword_ptr[rdi + 48], rax);
            a.pushfq();
            a.pop(rdx);
            a.mov(__qword_ptr[rdi + 56], rdx);
            a.stmxcsr(__dword_ptr[rdi + 36]);
            a.hlt();
        });
        var sr = g.Vcpu.GetSpecialRegisters();
        sr.Cr4 |= ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
        sr.Cr0 |= ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ne;
        g.Vcpu.SetSpecialRegisters(sr);
        var regs = g.Vcpu.GetRegisters();
        regs.Rdi = StateAddress;
        g.Vcpu.SetRegisters(regs);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        g.Memory.Read(StateAddress, block);
        fixed (byte* p = block) return *(HostSse.State*)p;
    }

    [Fact]
    public void Fxsave64AndXsave64CoverXmm8To15()
    {
        using var g = new PageTableGuest();
        g.IdentityMapLarge(0x20_0000);
        g.Start64(CodeAddress, CodeAddress, a =>
        {
            for (int i = 0; i < 16; i++)
            {
                a.mov(eax, 0x0101_0101 * (i + 1));
                a.movd(new AssemblerRegisterXMM(Register.XMM0 + i), eax);
            }
            a.fxsave64(__[0x7000]);
            a.xor(ecx, ecx); a.mov(eax, 3); a.xor(edx, edx); a.xsetbv();
            a.xsave64(__[0x7400]);
            a.pxor(xmm13, xmm13);
            a.fxrstor64(__[0x7000]);
            a.movdqu(__xmmword_ptr[0x7800], xmm13);
            a.pxor(xmm9, xmm9);
            a.mov(eax, 3);
            a.xrstor64(__[0x7400]);
            a.hlt();
        });
        var sr = g.Vcpu.GetSpecialRegisters();
        sr.Cr4 |= ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt | ControlRegisters.Cr4Osxsave;
        g.Vcpu.SetSpecialRegisters(sr);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        var fx = new byte[512];
        g.Memory.Read(0x7000, fx);
        var xs = new byte[576];
        g.Memory.Read(0x7400, xs);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal((uint)(0x0101_0101 * (i + 1)), BitConverter.ToUInt32(fx, 160 + 16 * i));
            Assert.Equal((uint)(0x0101_0101 * (i + 1)), BitConverter.ToUInt32(xs, 160 + 16 * i));
        }
        var fpu = g.Vcpu.GetFpu();
        var saved = new byte[4];
        g.Memory.Read(0x7800, saved);
        Assert.Equal(0x0E0E_0E0Eu, BitConverter.ToUInt32(saved));             // XMM13 restored by FXRSTOR64
        Assert.Equal(0x0A0A_0A0Au, BitConverter.ToUInt32(fpu.Xmm, 9 * 16));   // XMM9 restored by XRSTOR64
    }
}
