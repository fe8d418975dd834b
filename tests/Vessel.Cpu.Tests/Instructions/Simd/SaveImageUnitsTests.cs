using System.Runtime.Intrinsics;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>One FXSAVE/XSAVE image holds the x87 unit's and the SIMD unit's state: a restore brings both back
/// together, and XRSTOR initialises the component its header marks absent while loading the other.</summary>
public class SaveImageUnitsTests
{
    private static Vector128<byte>[] Pattern()
    {
        var x = new Vector128<byte>[16];
        for (int i = 0; i < 16; i++) x[i] = Vector128.Create(0x0101_0101_0101_0101UL * (ulong)(i + 3), (ulong)i << 8).AsByte();
        return x;
    }

    [Fact]
    public void FxrstorBringsBackTheX87StackAndTheXmmRegistersOfOneImage()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        var s = g.Run(a =>
        {
            a.fld1();
            a.fldpi();                                  // ST0 = pi, ST1 = 1, TOP = 6
            a.fxsave(__[SseGuest.DataAddress]);
            a.fninit();
            a.fldz();
            a.pxor(xmm2, xmm2);
            a.fxrstor(__[SseGuest.DataAddress]);
            a.fstp(__qword_ptr[0x2000]);
            a.fstp(__qword_ptr[0x2008]);
        }, xmm);
        Assert.Equal("", g.Exceptions);
        var stored = new byte[16];
        g.Memory.Read(0x2000, stored);
        Assert.Equal(Math.PI, BitConverter.ToDouble(stored, 0));
        Assert.Equal(1.0, BitConverter.ToDouble(stored, 8));
        Assert.Equal(xmm[2], SseGuest.Xmm(s, 2));
        Assert.Equal(0, s.Ftwx);                       // both values popped: every register empty
        Assert.Equal(0, (s.Fsw >> 11) & 7);
    }

    [Fact]
    public void XrstorInitialisesTheAbsentX87ComponentAndLoadsTheSseOne()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        var s = g.Run(a =>
        {
            a.xor(ecx, ecx);
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsetbv();
            a.fldpi();
            a.xsave(__[SseGuest.DataAddress]);
            a.mov(__dword_ptr[SseGuest.DataAddress + 512], 2); // XSTATE_BV: x87 component absent
            a.pxor(xmm3, xmm3);
            a.fld1();
            a.xrstor(__[SseGuest.DataAddress]);
        }, xmm, adjust: sr => { sr.Cr4 |= ControlRegisters.Cr4Osxsave; return sr; });
        Assert.Equal("", g.Exceptions);
        Assert.Equal(xmm[3], SseGuest.Xmm(s, 3));
        Assert.Equal(0x37F, s.Fcw);
        Assert.Equal(0, s.Fsw);
        Assert.Equal(0, s.Ftwx);
        Assert.All(s.Fpr, b => Assert.Equal(0, b));   // the registers themselves cleared, not only tagged empty
    }
}
