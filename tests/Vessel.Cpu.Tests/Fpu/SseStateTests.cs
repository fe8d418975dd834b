using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>FXSAVE/FXRSTOR/XSAVE layout and the CR0/CR4 gates, alignment faults and #XM.</summary>
public class SseStateTests
{
    private static Vector128<byte>[] Pattern()
    {
        var x = new Vector128<byte>[16];
        for (int i = 0; i < 16; i++) x[i] = Vector128.Create((ulong)(0x1111_1111_1111_1111UL * (ulong)(i + 1)), ~(ulong)i).AsByte();
        return x;
    }

    private static byte Vec(int vector) => (byte)('A' + vector);

    [Fact]
    public void FxsaveWritesTheLegacyLayoutAndFxrstorRestoresIt()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        var s = g.Run(a =>
        {
            a.fxsave(__[SseGuest.DataAddress]);
            a.pxor(xmm1, xmm1);
            a.pxor(xmm7, xmm7);
            a.mov(__dword_ptr[0x2000], 0x9F80);
            a.ldmxcsr(__dword_ptr[0x2000]);
            a.fxrstor(__[SseGuest.DataAddress]);
        }, xmm, mxcsr: 0x3F80);
        var img = new byte[512];
        g.Memory.Read(SseGuest.DataAddress, img);
        Assert.Equal(0x37F, BitConverter.ToUInt16(img, 0));
        Assert.Equal(0x3F80u, BitConverter.ToUInt32(img, 24));
        Assert.Equal(0xFFFFu, BitConverter.ToUInt32(img, 28));
        for (int i = 0; i < 8; i++) Assert.Equal(xmm[i], Vector128.Create(img.AsSpan(160 + i * 16, 16)));
        Assert.All(img[(160 + 8 * 16)..288], b => Assert.Equal(0, b)); // XMM8-15 are not saved outside 64-bit mode
        Assert.Equal(0x3F80u, s.Mxcsr);
        Assert.Equal(xmm[1], SseGuest.Xmm(s, 1));
        Assert.Equal(xmm[7], SseGuest.Xmm(s, 7));
        Assert.Equal("", g.Exceptions);
    }

    [Fact]
    public void XsaveStoresTheRequestedComponentsAndXrstorInitialisesAbsentOnes()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        var s = g.Run(a =>
        {
            a.xor(ecx, ecx);
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsetbv();
            a.xgetbv();
            a.mov(esi, eax);
            a.mov(eax, 3);
            a.xsave(__[SseGuest.DataAddress]);
            a.mov(__dword_ptr[SseGuest.DataAddress + 512], 1); // XSTATE_BV: SSE component absent
            a.mov(eax, 3);
            a.xrstor(__[SseGuest.DataAddress]);
        }, xmm, realMode: true, adjust: sr => { sr.Cr4 |= ControlRegisters.Cr4Osxsave; return sr; });
        Assert.Equal("", g.Exceptions);
        Assert.Equal(3UL, g.Vcpu.GetRegisters().Rsi);
        var img = new byte[576];
        g.Memory.Read(SseGuest.DataAddress, img);
        Assert.Equal(xmm[3], Vector128.Create(img.AsSpan(160 + 3 * 16, 16)));
        Assert.Equal(Vector128<byte>.Zero, SseGuest.Xmm(s, 3));
    }

    [Fact]
    public void XsetbvRejectsUnsupportedBitsWithGp()
    {
        using var g = new SseGuest();
        g.Run(a => { a.xor(ecx, ecx); a.mov(eax, 7); a.xor(edx, edx); a.xsetbv(); }, Pattern(), realMode: true,
            adjust: sr => { sr.Cr4 |= ControlRegisters.Cr4Osxsave; return sr; });
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g.Exceptions);
    }

    [Fact]
    public void SseIsUndefinedWithoutOsfxsrOrWithEm()
    {
        using var g1 = new SseGuest();
        g1.Run(a => a.addps(xmm0, xmm1), Pattern(), realMode: true, adjust: sr => { sr.Cr4 &= ~ControlRegisters.Cr4Osfxsr; return sr; });
        Assert.Equal(((char)Vec(Vector.UD)).ToString(), g1.Exceptions);
        using var g2 = new SseGuest();
        g2.Run(a => a.pxor(xmm0, xmm1), Pattern(), realMode: true, adjust: sr => { sr.Cr0 |= ControlRegisters.Cr0Em; return sr; });
        Assert.Equal(((char)Vec(Vector.UD)).ToString(), g2.Exceptions);
    }

    [Fact]
    public void TaskSwitchedRaisesNmForSseAndX87()
    {
        using var g1 = new SseGuest();
        g1.Run(a => a.movdqa(xmm0, xmm1), Pattern(), realMode: true, adjust: sr => { sr.Cr0 |= ControlRegisters.Cr0Ts; return sr; });
        Assert.Equal(((char)Vec(Vector.NM)).ToString(), g1.Exceptions);
        using var g2 = new SseGuest();
        g2.Run(a => a.fninit(), Pattern(), realMode: true, adjust: sr => { sr.Cr0 |= ControlRegisters.Cr0Ts; return sr; });
        Assert.Equal(((char)Vec(Vector.NM)).ToString(), g2.Exceptions);
    }

    [Fact]
    public void MisalignedAlignedFormsRaiseGpButUnalignedFormsDoNot()
    {
        using var g1 = new SseGuest();
        var s = g1.Run(a => a.movdqu(xmm2, __xmmword_ptr[SseGuest.DataAddress + 4]), Pattern());
        Assert.Equal("", g1.Exceptions);
        using var g2 = new SseGuest();
        g2.Run(a => a.movaps(xmm2, __xmmword_ptr[SseGuest.DataAddress + 4]), Pattern(), realMode: true);
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g2.Exceptions);
        using var g3 = new SseGuest();
        g3.Run(a => a.paddb(xmm2, __xmmword_ptr[SseGuest.DataAddress + 8]), Pattern(), realMode: true);
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g3.Exceptions);
    }

    [Fact]
    public void UnmaskedDivideByZeroRaisesXmAndLeavesTheDestination()
    {
        var one = Vector128.CreateScalar(1.0).AsByte();
        using var g = new SseGuest();
        var s = g.Run(a => a.divsd(xmm0, xmm1), new[] { one, Vector128<byte>.Zero }, mxcsr: 0x1F80 & ~0x200u, realMode: true);
        Assert.Equal(((char)Vec(Vector.XM)).ToString(), g.Exceptions);
        Assert.Equal(one, SseGuest.Xmm(s, 0));
        Assert.Equal(0x1F84u & ~0x200u, s.Mxcsr);
        using var g2 = new SseGuest();
        g2.Run(a => a.divsd(xmm0, xmm1), new[] { one, Vector128<byte>.Zero }, mxcsr: 0x1F80 & ~0x200u, realMode: true,
            adjust: sr => { sr.Cr4 &= ~ControlRegisters.Cr4Osxmmexcpt; return sr; });
        Assert.Equal(((char)Vec(Vector.UD)).ToString(), g2.Exceptions);
    }

    [Fact]
    public void LdmxcsrWithReservedBitsRaisesGp()
    {
        using var g = new SseGuest();
        g.Run(a => { a.mov(__dword_ptr[0x2000], 0x10000); a.ldmxcsr(__dword_ptr[0x2000]); }, Pattern(), realMode: true);
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g.Exceptions);
    }

    [Fact]
    public void X87ControlWordsAndFninit()
    {
        using var g = new SseGuest();
        g.Run(a =>
        {
            a.mov(__word_ptr[0x2000], 0x0C7F);
            a.fldcw(__word_ptr[0x2000]);
            a.fnstcw(__word_ptr[0x2002]);
            a.fninit();
            a.fnstcw(__word_ptr[0x2004]);
            a.fnstsw(ax);
        }, Pattern());
        var b = new byte[6];
        g.Memory.Read(0x2000, b);
        Assert.Equal(0x0C7F, BitConverter.ToUInt16(b, 2));
        Assert.Equal(0x037F, BitConverter.ToUInt16(b, 4));
        Assert.Equal(0UL, g.Vcpu.GetRegisters().Rax & 0xFFFF);
    }

    [Fact]
    public void FpuStateRoundTripsThroughTheContract()
    {
        using var g = new SseGuest();
        var s = new FpuState { Fcw = 0x27F, Fsw = 0x3800, Ftwx = 0x81, LastOpcode = 0x123, LastIp = 0x1234, LastDp = 0x5678, Mxcsr = 0x7F80 };
        for (int i = 0; i < s.Fpr.Length; i++) s.Fpr[i] = (byte)(i * 7);
        for (int i = 0; i < s.Xmm.Length; i++) s.Xmm[i] = (byte)(i * 3);
        g.Vcpu.SetFpu(s);
        var r = g.Vcpu.GetFpu();
        Assert.Equal((s.Fcw, s.Fsw, s.Ftwx, s.LastOpcode, s.LastIp, s.LastDp, s.Mxcsr), (r.Fcw, r.Fsw, r.Ftwx, r.LastOpcode, r.LastIp, r.LastDp, r.Mxcsr));
        Assert.Equal(s.Xmm, r.Xmm);
        for (int i = 0; i < 8; i++) Assert.Equal(s.Fpr.AsSpan(i * 16, 10).ToArray(), r.Fpr.AsSpan(i * 16, 10).ToArray());
    }
}
