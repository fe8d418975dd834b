using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class SegmentLoadTests
{
    private const ulong HandlerBase = 0x30000;

    private static SegmentedGuest ProtectedGuestWithRecorders(bool longMode = false)
    {
        var g = new SegmentedGuest(longMode);
        foreach (int vector in new[] { 11, 12, 13 })
        {
            ulong handler = HandlerBase + (ulong)vector * 0x100;
            if (longMode)
            {
                g.SetGate64(vector, SegmentedGuest.KernelCode64, handler);
                Recorders.Handler64(g, handler, vector, hasErrorCode: true);
            }
            else
            {
                g.SetGate32(vector, SegmentedGuest.KernelCode32, handler);
                Recorders.Handler32(g, handler, vector, hasErrorCode: true);
            }
        }
        g.SetGdt(11, SegmentedGuest.Data(dpl: 0, present: false));
        g.SetGdt(12, SegmentedGuest.Descriptor(0, 0xFFFFF, 0x8, dpl: 0, big: true, granularity: true)); // execute-only code
        g.SetGdt(13, SegmentedGuest.Data(dpl: 0, writable: false));
        return g;
    }

    [Theory]
    [InlineData(false, 0x80, 13, 0x80)] // beyond the GDT limit
    [InlineData(false, 0x58, 11, 0x58)] // not present
    [InlineData(false, 0x60, 13, 0x60)] // execute-only code is not readable
    [InlineData(false, 0x13, 13, 0x10)] // RPL 3 above the descriptor's DPL 0
    [InlineData(true, 0x2B, 13, 0x28)]  // SS: DPL 3 at CPL 0
    [InlineData(true, 0x58, 12, 0x58)]  // SS: not present is #SS
    [InlineData(true, 0x68, 13, 0x68)]  // SS: read-only data
    [InlineData(true, 0x08, 13, 0x08)]  // SS: code
    [InlineData(true, 0x00, 13, 0x00)]  // SS: null outside 64-bit mode
    public void BadSelectorsFaultWithTheSelectorAsErrorCode(bool stack, int selector, int vector, int errorCode)
    {
        using var g = ProtectedGuestWithRecorders();
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, (short)selector);
            if (stack) a.mov(ss, ax); else a.mov(ds, ax);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal((uint)vector, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)errorCode, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 4, g.ReadU32(Recorders.SavedIp)); // the MOV Sreg itself
    }

    [Fact]
    public void NullDataSegmentLoadsButFaultsOnUse()
    {
        using var g = ProtectedGuestWithRecorders();
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.xor(eax, eax);
            a.mov(es, ax);
            a.mov(ebx, __dword_ptr[0x100]); // DS is still fine
            a.mov(ecx, __dword_ptr.es[0x100]);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0u, g.ReadU32(Recorders.ErrorCode));
        Assert.True(g.SpecialRegisters.Es.Unusable);
    }

    [Fact]
    public void LoadsSetTheAccessedBitAndLdsLoadsSelectorAndOffset()
    {
        using var g = ProtectedGuestWithRecorders();
        g.SetGdt(14, SegmentedGuest.Descriptor(0x40000, 0xFFFF, 0x2, dpl: 0, big: true));
        g.WriteU32(0x700, 0x1234);
        g.WriteU16(0x704, 14 << 3);
        g.WriteU32(0x40010, 0xCAFE);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.lds(esi, __fword_ptr[0x700]);
            a.mov(eax, __dword_ptr[0x10]);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1234UL, g.Registers.Rsi);
        Assert.Equal(0xCAFEUL, g.Registers.Rax);
        Assert.Equal(0x40000UL, g.SpecialRegisters.Ds.Base);
        Assert.True((g.GetGdt(14) & (1UL << 40)) != 0);
    }

    [Fact]
    public void LimitViolationThroughALoadedSegmentIsGeneralProtection()
    {
        using var g = ProtectedGuestWithRecorders();
        g.SetGdt(14, SegmentedGuest.Descriptor(0x40000, 0xFF, 0x2, dpl: 0, big: true));
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 14 << 3);
            a.mov(fs, ax);
            a.mov(eax, __dword_ptr.fs[0xFC]);
            a.mov(eax, __dword_ptr.fs[0xFD]);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 4 + 2 + 7, g.ReadU32(Recorders.SavedIp)); // the second load
    }

    [Fact]
    public void SixtyFourBitModeAllowsNullStackSegmentAndTakesFsBaseFromTheDescriptor()
    {
        using var g = ProtectedGuestWithRecorders(longMode: true);
        g.SetGdt(14, SegmentedGuest.Descriptor(0x40000, 0xFFFF, 0x2, dpl: 0, big: true));
        g.WriteU64(0x40008, 0xFEED_F00D_1234_5678);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.xor(eax, eax);
            a.mov(ss, ax);
            a.push(rax); // the stack still works: SS's base and limit are ignored
            a.mov(ax, 14 << 3);
            a.mov(fs, ax);
            a.mov(rbx, __qword_ptr.fs[8]);
            a.mov(ds, ax); // DS base ignored in 64-bit mode
            a.mov(rcx, __qword_ptr[0x40008]);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0xFEED_F00D_1234_5678UL, g.Registers.Rbx);
        Assert.Equal(0xFEED_F00D_1234_5678UL, g.Registers.Rcx);
        Assert.Equal(0UL, (ulong)g.SpecialRegisters.Ss.Selector);
        Assert.Equal(0x6FF8UL, g.Registers.Rsp);
    }
}
