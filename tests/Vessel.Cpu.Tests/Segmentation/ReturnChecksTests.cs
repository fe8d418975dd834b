using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class ReturnChecksTests
{
    private const ulong Handler = 0x30000;

    private static SegmentedGuest GuestWithGpRecorder(bool longMode)
    {
        var g = new SegmentedGuest(longMode);
        if (longMode)
        {
            g.SetGate64(13, SegmentedGuest.KernelCode64, Handler);
            Recorders.Handler64(g, Handler, 13, hasErrorCode: true);
        }
        else
        {
            g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
            Recorders.Handler32(g, Handler, 13, hasErrorCode: true);
        }
        return g;
    }

    [Fact]
    public void IretToAMorePrivilegedRingIsGeneralProtection()
    {
        using var g = GuestWithGpRecorder(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.pushfd();
            a.push(SegmentedGuest.KernelCode32); // RPL 0 from ring 3
            a.push(0x1234);
            a.iretd();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.KernelCode32, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void FarReturnToRing3WithAKernelStackSegmentIsGeneralProtection()
    {
        using var g = GuestWithGpRecorder(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.push(SegmentedGuest.KernelData | 3); // SS with RPL 3 but DPL 0
            a.push((int)SegmentedGuest.UserStack);
            a.push(SegmentedGuest.UserCode32);
            a.push(0x1234);
            a.retf();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.KernelData, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal(SegmentedGuest.KernelCode32, g.SpecialRegisters.Cs.Selector); // nothing changed
    }

    [Fact]
    public void IretqFromKernelToCompatibilityModeUserAndBackThroughA64BitGate()
    {
        using var g = GuestWithGpRecorder(longMode: true);
        g.SetGate64(0x80, SegmentedGuest.KernelCode64, 0x31000, dpl: 3);
        Recorders.Handler64(g, 0x31000, 0x80, hasErrorCode: false);
        const ulong user = 0x20000;
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.push(SegmentedGuest.UserData);
            a.push((int)SegmentedGuest.UserStack);
            a.push(0x202);
            a.push(SegmentedGuest.UserCode32);
            a.push((int)user);
            a.iretq();
        });
        g.Load(user, 32, a =>
        {
            a.mov(ebx, 0x32);
            a.@int(0x80);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x32UL, g.Registers.Rbx);
        Assert.Equal(0x80UL, g.ReadU64(Recorders.Vector) & 0xFF);
        Assert.Equal((ulong)SegmentedGuest.UserCode32, g.ReadU64(Recorders.SavedCs));
        Assert.Equal(user + 7, g.ReadU64(Recorders.SavedIp));
        Assert.Equal(SegmentedGuest.UserStack, g.ReadU64(Recorders.SavedSp));
        Assert.Equal(SegmentedGuest.KernelStack - 40, g.ReadU64(Recorders.StackPointer));
    }
}
