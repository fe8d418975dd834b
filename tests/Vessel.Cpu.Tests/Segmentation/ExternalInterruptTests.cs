using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class ExternalInterruptTests
{
    private const ulong Handler = 0x30000, NmiHandler = 0x31000;
    private const int Vector = 0x30;

    private static SegmentedGuest Guest(FakeInterruptController controller)
    {
        var g = new SegmentedGuest(longMode: false);
        g.SetGate32(Vector, SegmentedGuest.KernelCode32, Handler);
        Recorders.Handler32(g, Handler, Vector, hasErrorCode: false);
        g.Cpu.InterruptController = controller;
        return g;
    }

    [Fact]
    public void InterruptIsTakenOnlyAfterTheInstructionFollowingSti()
    {
        var controller = new FakeInterruptController { Vectors = { Vector } };
        using var g = Guest(controller);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ecx, 1);   // IF=0: the pending interrupt waits
            a.sti();
            a.mov(ebx, 1);   // runs in the STI shadow
            a.mov(edx, 1);   // the interrupt comes before this one
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal((uint)Vector, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 5 + 1 + 5, g.ReadU32(Recorders.SavedIp));
        Assert.Equal(1UL, g.Registers.Rbx);
        Assert.Equal(0UL, g.Registers.Rdx);
        Assert.Equal(1, controller.Acknowledged);
    }

    [Fact]
    public void MovSsHoldsOffInterruptsForOneInstruction()
    {
        var controller = new FakeInterruptController { Vectors = { Vector } };
        using var g = Guest(controller);
        X86Cpu cpu = g.Cpu;
        ulong movSs = SegmentedGuest.CodeBase + 4;
        controller.Armed = () => cpu.Rip > movSs; // raised just as MOV SS completes
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, SegmentedGuest.KernelData);
            a.mov(ss, ax);
            a.mov(esp, 0x6000); // in the shadow: SS:ESP change together
            a.mov(edx, 1);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000, rflags: 0x202);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal((uint)movSs + 3 + 5, g.ReadU32(Recorders.SavedIp)); // after MOV SS (66 8E D0) and MOV ESP
        Assert.Equal(0x6000u - 12, g.ReadU32(Recorders.StackPointer));
        Assert.Equal(0UL, g.Registers.Rdx);
    }

    [Fact]
    public void InterruptWakesHaltAndHandlerReturnsAfterTheHlt()
    {
        var controller = new FakeInterruptController();
        using var g = Guest(controller);
        X86Cpu cpu = g.Cpu;
        g.Load(Handler, 32, a =>
        {
            a.inc(__dword_ptr[0x600]);
            a.iretd();
        });
        ulong hlt = SegmentedGuest.CodeBase + 1;
        controller.Armed = () => cpu.Rip == hlt + 1; // pending once the vCPU sits in HLT
        controller.Vectors.Add(Vector);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.sti();
            a.hlt();
            a.cli();
            a.mov(ebx, __dword_ptr[0x600]);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(1UL, g.Registers.Rbx);
    }

    [Fact]
    public void NmiIsDeliveredDespiteClearIfAndNotNestedUntilIret()
    {
        var controller = new FakeInterruptController { PendingNmis = 2 };
        using var g = Guest(controller);
        g.SetGate32(2, SegmentedGuest.KernelCode32, NmiHandler);
        g.Load(NmiHandler, 32, a =>
        {
            var nested = a.CreateLabel();
            var last = a.CreateLabel();
            a.cmp(__dword_ptr[0x604], 0);
            a.jne(nested);
            a.mov(__dword_ptr[0x604], 1);
            a.inc(__dword_ptr[0x600]);
            a.nop(); // a further NMI would be taken here if IRET had not yet unblocked
            a.nop();
            a.mov(__dword_ptr[0x604], 0);
            a.cmp(__dword_ptr[0x600], 2);
            a.je(last);
            a.iretd();
            a.Label(ref last);
            a.hlt();
            a.Label(ref nested);
            a.mov(__dword_ptr[0x608], 1);
            a.hlt();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.nop();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(2u, g.ReadU32(0x600));
        Assert.Equal(0u, g.ReadU32(0x608));
        Assert.Equal(0, controller.PendingNmis);
    }

    [Fact]
    public void RealModeInterruptGoesThroughTheIvt()
    {
        var controller = new FakeInterruptController { Vectors = { 0x08 } };
        using var g = new SegmentedGuest(longMode: false);
        g.Cpu.InterruptController = controller;
        g.WriteU16(0x08 * 4, 0x0100);
        g.WriteU16(0x08 * 4 + 2, 0x2000); // 2000:0100 = 0x20100
        g.Load(0x20100, 16, a =>
        {
            a.mov(bx, 0x55);
            a.iret();
        });
        g.Guest.Load(0x7C00, Core.TinyGuest.Assemble(16, 0x7C00, a =>
        {
            a.sti();
            a.nop();
            a.cli();
            a.hlt();
        }));
        g.Guest.StartRealMode(0x7C00);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x55UL, g.Registers.Rbx);
        Assert.Equal(0x7000UL, g.Registers.Rsp);
        Assert.Equal(0x7C04UL, g.Registers.Rip);
    }
}
