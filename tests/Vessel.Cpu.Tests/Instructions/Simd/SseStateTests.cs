using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>FXSAVE/FXRSTOR/XSAVE layout (one image holding the x87 and SIMD units' state) and the CR0/CR4 gates,
/// alignment faults and #XM.</summary>
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

    private static SpecialRegisters WithOsxsave(SpecialRegisters sr)
    {
        sr.Cr4 |= ControlRegisters.Cr4Osxsave;
        return sr;
    }

    [Fact]
    public void XsavecWritesTheCompactedHeaderAndXrstorReadsThatFormat()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        var s = g.Run(a =>
        {
            a.xor(ecx, ecx); a.mov(eax, 3); a.xor(edx, edx); a.xsetbv();
            a.mov(eax, 2);                         // RFBM = SSE only
            a.xsavec(__[SseGuest.DataAddress]);
            a.pxor(xmm5, xmm5);
            a.mov(__dword_ptr[0x2000], 0x9F80);
            a.ldmxcsr(__dword_ptr[0x2000]);
            a.mov(eax, 3);
            a.xrstor(__[SseGuest.DataAddress]);
        }, xmm, mxcsr: 0x3F80, realMode: true, adjust: WithOsxsave);
        Assert.Equal("", g.Exceptions);
        var img = new byte[576];
        g.Memory.Read(SseGuest.DataAddress, img);
        Assert.Equal(2UL, BitConverter.ToUInt64(img, 512));                  // XSTATE_BV
        Assert.Equal(0x8000_0000_0000_0002UL, BitConverter.ToUInt64(img, 520)); // XCOMP_BV
        Assert.Equal(0x3F80u, BitConverter.ToUInt32(img, 24));
        Assert.Equal(xmm[5], Vector128.Create(img.AsSpan(160 + 5 * 16, 16)));
        Assert.Equal(0, BitConverter.ToUInt16(img, 0));                       // x87 not requested: not written
        Assert.Equal(xmm[5], SseGuest.Xmm(s, 5));
        Assert.Equal(0x3F80u, s.Mxcsr);
    }

    [Fact]
    public void XsaveoptStoresLikeXsaveAndKeepsHeaderBitsOutsideTheRequest()
    {
        using var g = new SseGuest();
        var xmm = Pattern();
        g.Memory.Write(SseGuest.DataAddress + 512, BitConverter.GetBytes(2UL));
        g.Run(a =>
        {
            a.xor(ecx, ecx); a.mov(eax, 3); a.xor(edx, edx); a.xsetbv();
            a.mov(eax, 1);
            a.xsaveopt(__[SseGuest.DataAddress]);
        }, xmm, realMode: true, adjust: WithOsxsave);
        Assert.Equal("", g.Exceptions);
        var img = new byte[576];
        g.Memory.Read(SseGuest.DataAddress, img);
        Assert.Equal(3UL, BitConverter.ToUInt64(img, 512));
        Assert.Equal(0x37F, BitConverter.ToUInt16(img, 0));
        Assert.Equal(0u, BitConverter.ToUInt32(img, 24));                    // MXCSR belongs to SSE: not requested
        Assert.Equal(Vector128<byte>.Zero, Vector128.Create(img.AsSpan(160, 16)));
    }

    /// <summary>Header (XSTATE_BV, XCOMP_BV, offset of a stray non-zero qword or 0) and whether XRSTOR faults.</summary>
    public static TheoryData<ulong, ulong, int, bool> Headers() => new()
    {
        { 3, 0, 0, false },
        { 3, 1, 0, true },                                   // standard form: XCOMP_BV must be zero
        { 3, 0, 528, true },                                 // standard form: bytes 16-23 reserved
        { 3, 0, 536, false },                                // standard form ignores bytes 24-63
        { 7, 0, 0, true },                                   // XSTATE_BV names a component outside XCR0
        { 3, 0x8000_0000_0000_0003, 0, false },
        { 3, 0x8000_0000_0000_0001, 0, true },               // compacted: XSTATE_BV outside XCOMP_BV
        { 1, 0x8000_0000_0000_0005, 0, true },               // compacted: XCOMP_BV outside XCR0
        { 3, 0x8000_0000_0000_0003, 560, true },             // compacted: bytes 16-63 reserved
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public void XrstorChecksTheHeader(ulong xstateBv, ulong xcompBv, int strayAt, bool faults)
    {
        using var g = new SseGuest();
        var hdr = new byte[64];
        BitConverter.TryWriteBytes(hdr.AsSpan(0), xstateBv);
        BitConverter.TryWriteBytes(hdr.AsSpan(8), xcompBv);
        if (strayAt != 0) hdr[strayAt - 512] = 1;
        g.Memory.Write(SseGuest.DataAddress + 512, hdr);
        g.Memory.Write(SseGuest.DataAddress + 24, BitConverter.GetBytes(0x1F80u));
        g.Run(a =>
        {
            a.xor(ecx, ecx); a.mov(eax, 3); a.xor(edx, edx); a.xsetbv();
            a.xrstor(__[SseGuest.DataAddress]);
        }, Pattern(), realMode: true, adjust: WithOsxsave);
        Assert.Equal(faults ? ((char)Vec(Vector.GP)).ToString() : "", g.Exceptions);
    }

    [Fact]
    public void XcrOtherThanXcr0AndXcr0WithoutX87RaiseGp()
    {
        using var g1 = new SseGuest();
        g1.Run(a => { a.mov(ecx, 1); a.xgetbv(); }, Pattern(), realMode: true, adjust: WithOsxsave);
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g1.Exceptions);
        using var g2 = new SseGuest();
        g2.Run(a => { a.xor(ecx, ecx); a.mov(eax, 2); a.xor(edx, edx); a.xsetbv(); }, Pattern(), realMode: true, adjust: WithOsxsave);
        Assert.Equal(((char)Vec(Vector.GP)).ToString(), g2.Exceptions);
        using var g3 = new SseGuest();
        g3.Run(a => { a.xor(ecx, ecx); a.xgetbv(); }, Pattern(), realMode: true);
        Assert.Equal(((char)Vec(Vector.UD)).ToString(), g3.Exceptions);
        using var g4 = new SseGuest();
        g4.Run(a => { a.mov(eax, 3); a.xor(edx, edx); a.xsave(__[SseGuest.DataAddress]); }, Pattern(), realMode: true,
            adjust: sr => { sr = WithOsxsave(sr); sr.Cr0 |= ControlRegisters.Cr0Ts; return sr; });
        Assert.Equal(((char)Vec(Vector.NM)).ToString(), g4.Exceptions);
    }

    [Fact]
    public void CpuidDescribesXsaveAndMirrorsOsxsave()
    {
        using var g = new SseGuest();
        Action<Assembler> body = a =>
        {
            a.mov(eax, 1); a.cpuid(); a.mov(__dword_ptr[0x2000], ecx);
            a.mov(eax, 0xD); a.xor(ecx, ecx); a.cpuid();
            a.mov(__dword_ptr[0x2004], eax); a.mov(__dword_ptr[0x2008], ebx); a.mov(__dword_ptr[0x200C], ecx); a.mov(__dword_ptr[0x2010], edx);
            a.mov(eax, 0xD); a.mov(ecx, 1); a.cpuid();
            a.mov(__dword_ptr[0x2014], eax); a.mov(__dword_ptr[0x2018], ebx);
        };
        g.Run(body, Pattern(), realMode: true, adjust: WithOsxsave);
        var b = new byte[0x1C];
        g.Memory.Read(0x2000, b);
        uint leaf1Ecx = BitConverter.ToUInt32(b, 0);
        Assert.Equal(1u << 26 | 1u << 27 | 1u << 19 | 1u << 20, leaf1Ecx & (1u << 26 | 1u << 27 | 1u << 19 | 1u << 20));
        Assert.Equal((3u, 576u, 576u, 0u), (BitConverter.ToUInt32(b, 4), BitConverter.ToUInt32(b, 8), BitConverter.ToUInt32(b, 12), BitConverter.ToUInt32(b, 16)));
        Assert.Equal(3u, BitConverter.ToUInt32(b, 0x14) & 0xF);
        Assert.Equal(576u, BitConverter.ToUInt32(b, 0x18));
        using var g2 = new SseGuest();
        g2.Run(body, Pattern(), realMode: true);
        g2.Memory.Read(0x2000, b);
        Assert.Equal(1u << 26, BitConverter.ToUInt32(b, 0) & (1u << 26 | 1u << 27));
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
