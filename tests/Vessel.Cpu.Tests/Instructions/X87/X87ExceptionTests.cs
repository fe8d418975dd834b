using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Unmasked x87 exceptions: the faulting instruction only flags ES/B; the next waiting x87 instruction
/// raises #MF when CR0.NE=1, non-waiting ones (FNSTSW, FNCLEX, FNINIT, FNSTENV) do not.</summary>
public class X87ExceptionTests
{
    private static readonly global::System.Runtime.Intrinsics.Vector128<byte>[] NoXmm = new global::System.Runtime.Intrinsics.Vector128<byte>[2];

    private static void UnmaskedInvalid(Assembler a)
    {
        a.fninit();
        a.mov(__word_ptr[0x3000], 0x37E); // IM clear
        a.fldcw(__word_ptr[0x3000]);
        a.fldz();
        a.fldz();
        a.fdivp(st1, st0); // 0/0: invalid, unmasked
        a.fnstsw(__word_ptr[0x3002]);
        a.mov(__byte_ptr[0x3004], 1);
    }

    private static (string Exceptions, ushort Fsw, byte Reached, byte After) Run(Action<Assembler> body, bool ne = true)
    {
        using var g = new SseGuest();
        g.Run(body, NoXmm, adjust: s => { if (!ne) s.Cr0 &= ~ControlRegisters.Cr0Ne; return s; });
        var b = new byte[6];
        g.Memory.Read(SseGuest.DataAddress, b);
        return (g.Exceptions, BitConverter.ToUInt16(b, 2), b[4], b[5]);
    }

    [Fact]
    public void NextWaitingInstructionRaisesMf()
    {
        var r = Run(a => { UnmaskedInvalid(a); a.fld1(); a.mov(__byte_ptr[0x3005], 1); });
        Assert.Equal("Q", r.Exceptions); // 'A' + 16
        Assert.Equal(0x8081 | 6 << 11, r.Fsw); // B, ES, IE; the faulting FDIVP neither stored nor popped
        Assert.Equal(1, r.Reached);
        Assert.Equal(0, r.After);
    }

    [Fact]
    public void FwaitRaisesMf()
    {
        var r = Run(a => { UnmaskedInvalid(a); a.wait(); a.mov(__byte_ptr[0x3005], 1); });
        Assert.Equal("Q", r.Exceptions);
        Assert.Equal(0, r.After);
    }

    [Fact]
    public void FnclexDiscardsThePendingException()
    {
        var r = Run(a => { UnmaskedInvalid(a); a.fnclex(); a.fld1(); a.wait(); a.mov(__byte_ptr[0x3005], 1); });
        Assert.Equal("", r.Exceptions);
        Assert.Equal(1, r.After);
    }

    [Fact]
    public void UnmaskingAPendingFlagWithFldcwRaisesMfLater()
    {
        var r = Run(a =>
        {
            a.fninit();
            a.fldz(); a.fldz(); a.fdivp(st1, st0); // masked invalid: IE set, no ES
            a.fnstsw(__word_ptr[0x3002]);
            a.mov(__word_ptr[0x3000], 0x37E);
            a.fldcw(__word_ptr[0x3000]);
            a.mov(__byte_ptr[0x3004], 1);
            a.fld1();
            a.mov(__byte_ptr[0x3005], 1);
        });
        Assert.Equal("Q", r.Exceptions);
        Assert.Equal(0x0001 | 7 << 11, r.Fsw);
        Assert.Equal((1, 0), (r.Reached, r.After));
    }

    [Fact]
    public void WithoutCr0NeNoExceptionIsRaised()
    {
        var r = Run(a => { UnmaskedInvalid(a); a.fld1(); a.wait(); a.mov(__byte_ptr[0x3005], 1); }, ne: false);
        Assert.Equal("", r.Exceptions);
        Assert.Equal(1, r.After);
    }
}
