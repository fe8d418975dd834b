using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>Copies between the contract's register types and the kvm structs.</summary>
internal static unsafe class KvmConvert
{
    public static Registers ToRegisters(in KvmRegs r) => new()
    {
        Rax = r.Rax, Rbx = r.Rbx, Rcx = r.Rcx, Rdx = r.Rdx, Rsi = r.Rsi, Rdi = r.Rdi, Rsp = r.Rsp, Rbp = r.Rbp,
        R8 = r.R8, R9 = r.R9, R10 = r.R10, R11 = r.R11, R12 = r.R12, R13 = r.R13, R14 = r.R14, R15 = r.R15,
        Rip = r.Rip, Rflags = r.Rflags,
    };

    public static KvmRegs FromRegisters(in Registers r) => new()
    {
        Rax = r.Rax, Rbx = r.Rbx, Rcx = r.Rcx, Rdx = r.Rdx, Rsi = r.Rsi, Rdi = r.Rdi, Rsp = r.Rsp, Rbp = r.Rbp,
        R8 = r.R8, R9 = r.R9, R10 = r.R10, R11 = r.R11, R12 = r.R12, R13 = r.R13, R14 = r.R14, R15 = r.R15,
        Rip = r.Rip, Rflags = r.Rflags,
    };

    public static Segment ToSegment(in KvmSegment s) => new()
    {
        Base = s.Base, Limit = s.Limit, Selector = s.Selector, Type = s.Type, Present = s.Present != 0, Dpl = s.Dpl,
        DefaultBig = s.Db != 0, CodeOrData = s.S != 0, Long = s.L != 0, Granularity = s.G != 0, Available = s.Avl != 0,
        Unusable = s.Unusable != 0,
    };

    public static KvmSegment FromSegment(in Segment s) => new()
    {
        Base = s.Base, Limit = s.Limit, Selector = s.Selector, Type = s.Type, Present = B(s.Present), Dpl = s.Dpl,
        Db = B(s.DefaultBig), S = B(s.CodeOrData), L = B(s.Long), G = B(s.Granularity), Avl = B(s.Available),
        Unusable = B(s.Unusable),
    };

    private static byte B(bool b) => b ? (byte)1 : (byte)0;

    public static SpecialRegisters ToSpecialRegisters(in KvmSregs s) => new()
    {
        Cs = ToSegment(s.Cs), Ds = ToSegment(s.Ds), Es = ToSegment(s.Es), Fs = ToSegment(s.Fs), Gs = ToSegment(s.Gs),
        Ss = ToSegment(s.Ss), Tr = ToSegment(s.Tr), Ldt = ToSegment(s.Ldt),
        Gdt = new DescriptorTable { Base = s.Gdt.Base, Limit = s.Gdt.Limit },
        Idt = new DescriptorTable { Base = s.Idt.Base, Limit = s.Idt.Limit },
        Cr0 = s.Cr0, Cr2 = s.Cr2, Cr3 = s.Cr3, Cr4 = s.Cr4, Cr8 = s.Cr8, Efer = s.Efer, ApicBase = s.ApicBase,
    };

    /// <summary>Writes <paramref name="r"/> into <paramref name="s"/>, leaving its interrupt bitmap as it is.</summary>
    public static void FillSpecialRegisters(ref KvmSregs s, in SpecialRegisters r)
    {
        s.Cs = FromSegment(r.Cs); s.Ds = FromSegment(r.Ds); s.Es = FromSegment(r.Es); s.Fs = FromSegment(r.Fs);
        s.Gs = FromSegment(r.Gs); s.Ss = FromSegment(r.Ss); s.Tr = FromSegment(r.Tr); s.Ldt = FromSegment(r.Ldt);
        s.Gdt = new KvmDtable { Base = r.Gdt.Base, Limit = r.Gdt.Limit };
        s.Idt = new KvmDtable { Base = r.Idt.Base, Limit = r.Idt.Limit };
        s.Cr0 = r.Cr0; s.Cr2 = r.Cr2; s.Cr3 = r.Cr3; s.Cr4 = r.Cr4; s.Cr8 = r.Cr8; s.Efer = r.Efer; s.ApicBase = r.ApicBase;
    }

    public static FpuState ToFpuState(in KvmFpu f)
    {
        var state = new FpuState
        {
            Fcw = f.Fcw, Fsw = f.Fsw, Ftwx = f.Ftwx, LastOpcode = f.LastOpcode, LastIp = f.LastIp, LastDp = f.LastDp, Mxcsr = f.Mxcsr,
        };
        fixed (byte* fpr = f.Fpr) new ReadOnlySpan<byte>(fpr, 128).CopyTo(state.Fpr);
        fixed (byte* xmm = f.Xmm) new ReadOnlySpan<byte>(xmm, 256).CopyTo(state.Xmm);
        return state;
    }

    public static KvmFpu FromFpuState(FpuState state)
    {
        var f = new KvmFpu
        {
            Fcw = state.Fcw, Fsw = state.Fsw, Ftwx = state.Ftwx, LastOpcode = state.LastOpcode, LastIp = state.LastIp,
            LastDp = state.LastDp, Mxcsr = state.Mxcsr,
        };
        state.Fpr.AsSpan(0, 128).CopyTo(new Span<byte>(f.Fpr, 128));
        state.Xmm.AsSpan(0, 256).CopyTo(new Span<byte>(f.Xmm, 256));
        return f;
    }
}
