using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

public class RealModeTests
{
    [Fact]
    public void PrintsThroughPortAndHalts()
    {
        using var g = new TinyGuest();
        g.Load(0x7c00, TinyGuest.Assemble(16, 0x7c00, a =>
        {
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            a.cli();
            a.mov(si, 0x7c00 + 0x40);
            a.Label(ref loop);
            a.lodsb();
            a.test(al, al);
            a.jz(done);
            a.@out(0xE9, al);
            a.jmp(loop);
            a.Label(ref done);
            a.hlt();
        }));
        g.Memory.Write(0x7c40, "Hello, real mode\0"u8.ToArray());
        g.StartRealMode(0x7c00);
        VcpuExit exit = g.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal("Hello, real mode", g.Output.ToString());
    }

    [Fact]
    public void SalcSetsAlFromCarryAndLeavesTheRestOfEax()
    {
        using var g = new TinyGuest();
        g.Load(0x1000, TinyGuest.Assemble(16, 0x1000, a =>
        {
            a.cli();
            a.mov(eax, 0x12345678);
            a.stc();
            a.db(0xD6); // SALC: Iced's assembler has no mnemonic for it
            a.mov(ebx, eax);
            a.clc();
            a.db(0xD6);
            a.hlt();
        }));
        g.StartRealMode(0x1000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0x123456FFUL, r.Rbx);
        Assert.Equal(0x12345600UL, r.Rax);
        Assert.Equal(0UL, r.Rflags & Vessel.Hypervisor.RflagsBits.Cf);
    }

    [Fact]
    public void ArithmeticLoopComputesSum()
    {
        using var g = new TinyGuest();
        g.Load(0x1000, TinyGuest.Assemble(16, 0x1000, a =>
        {
            var loop = a.CreateLabel();
            a.cli();
            a.xor(eax, eax);
            a.mov(ecx, 1000);
            a.Label(ref loop);
            a.add(eax, ecx);
            a.loop(loop);
            a.hlt();
        }));
        g.StartRealMode(0x1000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(500500UL, g.Vcpu.GetRegisters().Rax);
    }

    [Fact]
    public void InReturnsTheValueTheVmmSupplies()
    {
        using var g = new TinyGuest();
        g.Load(0x1000, TinyGuest.Assemble(16, 0x1000, a =>
        {
            a.cli();
            a.mov(dx, 0x3fd);
            a.@in(al, dx);
            a.mov(bl, al);
            a.hlt();
        }));
        g.StartRealMode(0x1000);
        Assert.Equal(VcpuExitReason.Halt, g.Run(portValue: p => p == 0x3fd ? 0x60UL : 0).Reason);
        Assert.Equal(0x60UL, g.Vcpu.GetRegisters().Rbx & 0xFF);
        Assert.Contains(g.Exits, e => e.Reason == VcpuExitReason.IoIn && e.Port == 0x3fd && e.Size == 1);
    }
}
