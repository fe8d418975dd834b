using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The architectural state the interpreter and compiled blocks both touch, as one fixed-layout block
/// held inline in <see cref="X86Cpu"/> (no indirection for the interpreter). Compiled code receives a reference
/// to it and addresses its fields by the offsets of <see cref="CpuStateLayout"/>; a translator to native code
/// would do the same.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CpuState
{
    /// <summary>General registers by x86 encoding number (0 = RAX ... 15 = R15).</summary>
    public GprFile Gpr;
    public ulong Rip;
    /// <summary>Start of the instruction being executed; faults report it.</summary>
    public ulong InstructionStart;
    /// <summary>RFLAGS; its arithmetic bits are valid only while <see cref="FlagOp"/> is None
    /// (except CF during Inc/Dec, which those instructions keep).</summary>
    public ulong Rflags;
    /// <summary>The lazy flags: the last flag-setting operation, its operands and result.</summary>
    public ulong FlagA, FlagB, FlagResult;
    public long InstructionsRetired;
    public ulong Cr0, Cr2, Cr3, Cr4, Efer;
    /// <summary>Task priority (CR8), 4 bits.</summary>
    public ulong Cr8;
    /// <summary>IA32_KERNEL_GS_BASE, which SWAPGS exchanges with GS's base: here rather than among the MSRs so
    /// translated code swaps the two inline.</summary>
    public ulong KernelGsBase;
    public int FlagSize;
    /// <summary>Current privilege level.</summary>
    public int Cpl;
    /// <summary>Code size the decoder uses: 16, 32 or 64; kept in step with CR0.PE, EFER.LMA and CS.</summary>
    public int Bitness;
    public X86Cpu.FlagOp FlagOp;
    /// <summary>ES, CS, SS, DS, FS, GS by <see cref="X86Cpu.ES"/>... numbers: the descriptor caches.</summary>
    public SegmentFile Seg;
    public Segment Ldtr, Tr;
    public DescriptorTable Gdtr, Idtr;
    /// <summary>XMM0-XMM15 (the SIMD unit's registers; translated code loads and stores them here too).</summary>
    public XmmFile Xmm;
    /// <summary>MXCSR: SSE rounding, masks and sticky exception flags.</summary>
    public uint Mxcsr;

    /// <summary>CR0.PE.</summary>
    public readonly bool ProtectedMode => (Cr0 & ControlRegisters.Cr0Pe) != 0;
    /// <summary>EFER.LMA: IA-32e mode (64-bit or compatibility).</summary>
    public readonly bool LongModeActive => (Efer & ControlRegisters.EferLma) != 0;
    /// <summary>RFLAGS.VM in legacy protected mode (the flag means nothing elsewhere).</summary>
    public readonly bool Vm86Mode => (Rflags & RflagsBits.Vm) != 0 && ProtectedMode && !LongModeActive;
}

[InlineArray(16)]
internal struct GprFile
{
    private ulong _element0;
}

[InlineArray(16)]
internal struct XmmFile
{
    private Vector128<byte> _element0;
}

[InlineArray(6)]
internal struct SegmentFile
{
    private Segment _element0;
}

/// <summary>Byte offsets of <see cref="CpuState"/>'s fields, computed once from the struct itself (no names
/// looked up), for code that addresses the block directly.</summary>
internal static class CpuStateLayout
{
    public static readonly int Gpr, Rip, InstructionStart, Rflags, FlagA, FlagB, FlagResult, FlagSize, FlagOp,
        InstructionsRetired, Cpl, Bitness, Seg, SegmentSize, SegmentBase, Cr0, Cr3, Cr4, Efer, KernelGsBase, Xmm, Mxcsr;

    static CpuStateLayout()
    {
        var s = new CpuState();
        Gpr = Of(ref s, ref s.Gpr[0]);
        Rip = Of(ref s, ref s.Rip);
        InstructionStart = Of(ref s, ref s.InstructionStart);
        Rflags = Of(ref s, ref s.Rflags);
        FlagA = Of(ref s, ref s.FlagA);
        FlagB = Of(ref s, ref s.FlagB);
        FlagResult = Of(ref s, ref s.FlagResult);
        FlagSize = Of(ref s, ref s.FlagSize);
        FlagOp = Of(ref s, ref s.FlagOp);
        InstructionsRetired = Of(ref s, ref s.InstructionsRetired);
        Cpl = Of(ref s, ref s.Cpl);
        Bitness = Of(ref s, ref s.Bitness);
        Seg = Of(ref s, ref s.Seg[0]);
        SegmentSize = Unsafe.SizeOf<Segment>();
        SegmentBase = (int)Unsafe.ByteOffset(ref Unsafe.As<Segment, byte>(ref s.Seg[0]), ref Unsafe.As<ulong, byte>(ref s.Seg[0].Base));
        Cr0 = Of(ref s, ref s.Cr0);
        Cr3 = Of(ref s, ref s.Cr3);
        Cr4 = Of(ref s, ref s.Cr4);
        Efer = Of(ref s, ref s.Efer);
        KernelGsBase = Of(ref s, ref s.KernelGsBase);
        Xmm = Of(ref s, ref s.Xmm[0]);
        Mxcsr = Of(ref s, ref s.Mxcsr);
    }

    /// <summary>Offset of general register <paramref name="index"/>.</summary>
    public static int GprAt(int index) => Gpr + index * sizeof(ulong);

    /// <summary>Offset of XMM register <paramref name="index"/> (16 bytes).</summary>
    public static int XmmAt(int index) => Xmm + index * 16;

    /// <summary>Offset of the base of segment register <paramref name="seg"/>'s descriptor cache.</summary>
    public static int SegmentBaseAt(int seg) => Seg + seg * SegmentSize + SegmentBase;

    private static int Of<T>(ref CpuState state, ref T field) =>
        (int)Unsafe.ByteOffset(ref Unsafe.As<CpuState, byte>(ref state), ref Unsafe.As<T, byte>(ref field));
}
