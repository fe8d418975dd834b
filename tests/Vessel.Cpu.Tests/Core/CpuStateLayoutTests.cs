using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Vessel.Hypervisor;
using Xunit;

namespace Vessel.Cpu.Tests.Core;

/// <summary>The state block's offsets, which compiled code addresses it by: each lands on the field it names,
/// inside the block, aligned, and no two overlap.</summary>
public class CpuStateLayoutTests
{
    private static (string Name, int Offset, int Size)[] Fields() =>
    [
        .. Enumerable.Range(0, 16).Select(i => ($"Gpr[{i}]", CpuStateLayout.GprAt(i), 8)),
        ("Rip", CpuStateLayout.Rip, 8),
        ("InstructionStart", CpuStateLayout.InstructionStart, 8),
        ("Rflags", CpuStateLayout.Rflags, 8),
        ("FlagA", CpuStateLayout.FlagA, 8),
        ("FlagB", CpuStateLayout.FlagB, 8),
        ("FlagResult", CpuStateLayout.FlagResult, 8),
        ("InstructionsRetired", CpuStateLayout.InstructionsRetired, 8),
        ("Cr0", CpuStateLayout.Cr0, 8),
        ("Cr3", CpuStateLayout.Cr3, 8),
        ("Cr4", CpuStateLayout.Cr4, 8),
        ("Efer", CpuStateLayout.Efer, 8),
        ("KernelGsBase", CpuStateLayout.KernelGsBase, 8),
        ("FlagSize", CpuStateLayout.FlagSize, 4),
        ("Cpl", CpuStateLayout.Cpl, 4),
        ("Bitness", CpuStateLayout.Bitness, 4),
        ("FlagOp", CpuStateLayout.FlagOp, 1),
        .. Enumerable.Range(0, 6).Select(i => ($"Seg[{i}].Base", CpuStateLayout.SegmentBaseAt(i), 8)),
        .. Enumerable.Range(0, 16).Select(i => ($"Xmm[{i}]", CpuStateLayout.XmmAt(i), 16)),
        ("Mxcsr", CpuStateLayout.Mxcsr, 4),
    ];

    [Fact]
    public void OffsetsAreInsideAlignedAndDisjoint()
    {
        var fields = Fields();
        int size = Unsafe.SizeOf<CpuState>();
        foreach (var (name, offset, width) in fields)
        {
            Assert.True(offset >= 0 && offset + width <= size, $"{name} at {offset} outside the {size}-byte block");
            // Translated code reaches the XMM registers with unaligned moves (the block itself is only 8-byte aligned).
            int alignment = Math.Min(width, 8);
            Assert.True(offset % alignment == 0, $"{name} at {offset} not {alignment}-byte aligned");
        }
        var sorted = fields.OrderBy(f => f.Offset).ToArray();
        for (int i = 1; i < sorted.Length; i++)
            Assert.True(sorted[i - 1].Offset + sorted[i - 1].Size <= sorted[i].Offset,
                $"{sorted[i - 1].Name} overlaps {sorted[i].Name}");
    }

    private static void Put(ref byte block, int offset, ulong value) =>
        Unsafe.WriteUnaligned(ref Unsafe.AddByteOffset(ref block, offset), value);

    [Fact]
    public void EachOffsetReachesTheFieldItNames()
    {
        var s = new CpuState();
        ref byte block = ref Unsafe.As<CpuState, byte>(ref s);

        for (int i = 0; i < 16; i++) Put(ref block, CpuStateLayout.GprAt(i), 0x1000UL + (ulong)i);
        Put(ref block, CpuStateLayout.Rip, 0x2001);
        Put(ref block, CpuStateLayout.InstructionStart, 0x2002);
        Put(ref block, CpuStateLayout.Rflags, 0x2003);
        Put(ref block, CpuStateLayout.FlagA, 0x2004);
        Put(ref block, CpuStateLayout.FlagB, 0x2005);
        Put(ref block, CpuStateLayout.FlagResult, 0x2006);
        Put(ref block, CpuStateLayout.InstructionsRetired, 0x2007);
        Put(ref block, CpuStateLayout.Cr0, 0x2008);
        Put(ref block, CpuStateLayout.Cr3, 0x2009);
        Put(ref block, CpuStateLayout.Cr4, 0x200A);
        Put(ref block, CpuStateLayout.Efer, 0x200B);
        Put(ref block, CpuStateLayout.KernelGsBase, 0x200C);
        for (int i = 0; i < 6; i++) Put(ref block, CpuStateLayout.SegmentBaseAt(i), 0x3000UL + (ulong)i);
        Unsafe.AddByteOffset(ref block, CpuStateLayout.FlagOp) = (byte)X86Cpu.FlagOp.Shift;
        Unsafe.WriteUnaligned(ref Unsafe.AddByteOffset(ref block, CpuStateLayout.FlagSize), 4);
        Unsafe.WriteUnaligned(ref Unsafe.AddByteOffset(ref block, CpuStateLayout.Cpl), 3);
        Unsafe.WriteUnaligned(ref Unsafe.AddByteOffset(ref block, CpuStateLayout.Bitness), 64);
        for (int i = 0; i < 16; i++)
        {
            Put(ref block, CpuStateLayout.XmmAt(i), 0x4000UL + (ulong)i);
            Put(ref block, CpuStateLayout.XmmAt(i) + 8, 0x5000UL + (ulong)i);
        }
        Unsafe.WriteUnaligned(ref Unsafe.AddByteOffset(ref block, CpuStateLayout.Mxcsr), 0x1F81u);

        for (int i = 0; i < 16; i++) Assert.Equal(0x1000UL + (ulong)i, s.Gpr[i]);
        Assert.Equal(0x2001UL, s.Rip);
        Assert.Equal(0x2002UL, s.InstructionStart);
        Assert.Equal(0x2003UL, s.Rflags);
        Assert.Equal(0x2004UL, s.FlagA);
        Assert.Equal(0x2005UL, s.FlagB);
        Assert.Equal(0x2006UL, s.FlagResult);
        Assert.Equal(0x2007L, s.InstructionsRetired);
        Assert.Equal(0x2008UL, s.Cr0);
        Assert.Equal(0x2009UL, s.Cr3);
        Assert.Equal(0x200AUL, s.Cr4);
        Assert.Equal(0x200BUL, s.Efer);
        Assert.Equal(0x200CUL, s.KernelGsBase);
        for (int i = 0; i < 6; i++)
        {
            Segment seg = s.Seg[i];
            Assert.Equal(0x3000UL + (ulong)i, seg.Base);
            Assert.Equal(0u, seg.Limit); // the base, not a neighbour, took the value
        }
        Assert.Equal(X86Cpu.FlagOp.Shift, s.FlagOp);
        Assert.Equal(4, s.FlagSize);
        Assert.Equal(3, s.Cpl);
        Assert.Equal(64, s.Bitness);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(0x4000UL + (ulong)i, s.Xmm[i].AsUInt64().GetElement(0));
            Assert.Equal(0x5000UL + (ulong)i, s.Xmm[i].AsUInt64().GetElement(1));
        }
        Assert.Equal(0x1F81u, s.Mxcsr);
    }
}
