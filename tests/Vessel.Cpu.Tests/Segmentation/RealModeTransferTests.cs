using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class RealModeTransferTests
{
    [Fact]
    public void FarCallRetfIntIretAndLssWorkInRealMode()
    {
        using var g = new TinyGuest();
        g.Memory.WriteUInt16(0x21 * 4, 0x0000);
        g.Memory.WriteUInt16(0x21 * 4 + 2, 0x3000); // INT 21h → 3000:0000
        g.Load(0x30000, TinyGuest.Assemble(16, 0, a =>
        {
            a.add(si, 1);
            a.iret();
        }));
        g.Load(0x20010, TinyGuest.Assemble(16, 0x10, a =>
        {
            a.mov(ax, cs);
            a.mov(bx, ax);
            a.retf(2);
        }));
        g.Memory.WriteUInt16(0x600, 0x0400); // SP
        g.Memory.WriteUInt16(0x602, 0x0050); // SS
        g.Load(0x7C00, TinyGuest.Assemble(16, 0x7C00, a =>
        {
            a.push(0x1234);
            a.call(0x2000, 0x0010);
            a.@int(0x21);
            a.lss(dx, __dword_ptr[0x600]);
            a.cli();
            a.hlt();
        }));
        g.StartRealMode(0x7C00);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        var r = g.Vcpu.GetRegisters();
        var s = g.Vcpu.GetSpecialRegisters();
        Assert.Equal(0x2000UL, r.Rbx);
        Assert.Equal(1UL, r.Rsi);
        Assert.Equal(0x400UL, r.Rdx & 0xFFFF);
        Assert.Equal(0x50, s.Ss.Selector);
        Assert.Equal(0x500UL, s.Ss.Base);
        Assert.Equal(0UL, s.Cs.Base);
    }
}
