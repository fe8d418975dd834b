using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

/// <summary>Hardware task switches (SDM vol. 3 7.3) in legacy protected mode: CALL/JMP far to a TSS or a task gate,
/// IRET with NT back through the link, exceptions through an IDT task gate with the error code on the new task's
/// stack, and the faults at the points Intel gives them. These once ended the VM with an internal error.</summary>
public class TaskSwitchTests
{
    // GDT slots the standard harness leaves free: a second and third TSS, a task gate, a 16-bit TSS.
    private const ushort TaskB = 9 << 3, TaskGate = 11 << 3, TaskC = 12 << 3, Task16 = 13 << 3;
    private const ulong TssB = 0x4000, TssC = 0x5000, Tss16 = 0x6000, CodeB = 0x20000, CodeC = 0x21000;
    private const ulong Busy = 1UL << 41;
    private const int Nt = 1 << 14;

    private static SegmentedGuest Guest()
    {
        var g = new SegmentedGuest(longMode: false);
        // The harness sets TR as LTR leaves it; the GDT's descriptor gets the busy bit LTR would have set.
        g.SetGdt(SegmentedGuest.TssSelector >> 3, g.GetGdt(SegmentedGuest.TssSelector >> 3) | Busy);
        g.SetGdt(TaskB >> 3, SegmentedGuest.Descriptor(TssB, 0x67, 0x9, system: true));
        g.SetGdt(TaskC >> 3, SegmentedGuest.Descriptor(TssC, 0x67, 0x9, system: true));
        return g;
    }

    /// <summary>Writes a 32-bit TSS: flat kernel segments, the given EIP, ESP and EFLAGS, EAX = <paramref name="eax"/>.</summary>
    private static void WriteTss32(SegmentedGuest g, ulong at, ulong eip, uint esp, uint eflags = 2, uint eax = 0,
        ushort cs = SegmentedGuest.KernelCode32, ushort ss = SegmentedGuest.KernelData, ushort ldt = 0)
    {
        g.Memory.Write(at, new byte[0x68]);
        g.WriteU32(at + 0x20, (uint)eip);
        g.WriteU32(at + 0x24, eflags);
        g.WriteU32(at + 0x28, eax);
        g.WriteU32(at + 0x38, esp);
        g.WriteU16(at + 0x48, SegmentedGuest.KernelData);
        g.WriteU16(at + 0x4C, cs);
        g.WriteU16(at + 0x50, ss);
        g.WriteU16(at + 0x54, SegmentedGuest.KernelData);
        g.WriteU16(at + 0x60, ldt);
    }

    private static void Start(SegmentedGuest g) =>
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);

    private static bool IsBusy(SegmentedGuest g, ushort selector) => (g.GetGdt(selector >> 3) & Busy) != 0;

    [Fact]
    public void CallToATssRunsTheTaskAndIretReturnsThroughTheLink()
    {
        using var g = Guest();
        WriteTss32(g, TssB, CodeB, 0x6800, eax: 0xB0B);
        byte[] taskB = Core.TinyGuest.Assemble(32, CodeB, a =>
        {
            a.mov(__dword_ptr[0x600], eax);               // the new task's EAX, from its TSS
            a.pushfd();
            a.pop(__dword_ptr[0x604]);                     // its EFLAGS: NT set by the CALL
            a.str(__word_ptr[0x608]);
            a.iretd();                                     // NT: back to the caller's task
        });
        g.Guest.Load(CodeB, taskB);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(eax, 0xA0A);
            a.mov(ebx, 0x1234);
            a.call(TaskB, 0);
            a.pushfd();
            a.pop(__dword_ptr[0x610]);                     // the caller's EFLAGS after the return: NT clear
            a.hlt();
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0xB0Bu, g.ReadU32(0x600));
        Assert.NotEqual(0u, g.ReadU32(0x604) & Nt);
        Assert.Equal(TaskB, (ushort)g.ReadU32(0x608));
        Assert.Equal(0u, g.ReadU32(0x610) & Nt);
        // Back in the first task with its registers restored from its TSS, TR naming it again.
        Assert.Equal(0xA0AUL, g.Registers.Rax);
        Assert.Equal(0x1234UL, g.Registers.Rbx);
        Assert.Equal(0x7000UL, g.Registers.Rsp);
        Assert.Equal(SegmentedGuest.TssSelector, g.SpecialRegisters.Tr.Selector);
        Assert.Equal(SegmentedGuest.TssSelector, (ushort)g.ReadU32(TssB)); // B's back link
        Assert.False(IsBusy(g, TaskB), "IRET clears the busy bit of the task it leaves");
        // B's TSS holds where it was: just past its IRET.
        Assert.Equal((uint)CodeB + (uint)taskB.Length, g.ReadU32(TssB + 0x20));
        Assert.True((g.SpecialRegisters.Cr0 & ControlRegisters.Cr0Ts) != 0, "a task switch sets CR0.TS");
    }

    [Fact]
    public void JumpThroughATaskGateSavesTheOldTaskAndLeavesNoLink()
    {
        using var g = Guest();
        WriteTss32(g, TssB, CodeB, 0x6800);
        g.SetGdt(TaskGate >> 3, ((ulong)TaskB << 16) | (0x85UL << 40)); // present task gate, DPL 0
        g.Load(CodeB, 32, a =>
        {
            a.pushfd();
            a.pop(eax);
            a.hlt();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(esi, 0x5151);
            a.jmp(TaskGate, 0);
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0UL, g.Registers.Rax & Nt);
        Assert.Equal(TaskB, g.SpecialRegisters.Tr.Selector);
        Assert.True(IsBusy(g, TaskB));
        Assert.False(IsBusy(g, SegmentedGuest.TssSelector), "JMP clears the old task's busy bit");
        Assert.Equal(0u, g.ReadU32(TssB) & 0xFFFF);      // no back link
        const ulong old = SegmentedGuest.TssBase;
        Assert.Equal(0x5151u, g.ReadU32(old + 0x40));    // ESI saved
        Assert.Equal((uint)SegmentedGuest.CodeBase + 12, g.ReadU32(old + 0x20)); // EIP past the JMP
        Assert.Equal(SegmentedGuest.KernelCode32, (ushort)g.ReadU32(old + 0x4C));
    }

    [Fact]
    public void AFaultThroughAnIdtTaskGatePushesItsErrorCodeOnTheNewTasksStack()
    {
        using var g = Guest();
        WriteTss32(g, TssB, CodeB, 0x6800);
        g.WriteU64(SegmentedGuest.IdtBase + 13 * 8, ((ulong)TaskB << 16) | (0x85UL << 40));
        g.Load(CodeB, 32, a =>
        {
            a.pop(__dword_ptr[0x600]);                     // the error code
            a.mov(__dword_ptr[0x604], esp);
            a.hlt();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 0x80);                                // past the GDT limit
            a.mov(ds, ax);
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x80u, g.ReadU32(0x600));
        Assert.Equal(0x6800u, g.ReadU32(0x604));
        // The faulting task's saved EIP is the faulting MOV DS, to restart it.
        Assert.Equal((uint)SegmentedGuest.CodeBase + 4, g.ReadU32(SegmentedGuest.TssBase + 0x20));
        Assert.Equal(SegmentedGuest.TssSelector, (ushort)g.ReadU32(TssB));
    }

    [Fact]
    public void ABusyTssIsRefusedWithGpBeforeTheSwitch()
    {
        using var g = Guest();
        g.SetGate32(13, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 13, hasErrorCode: true);
        g.SetGdt(TaskB >> 3, g.GetGdt(TaskB >> 3) | Busy);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.call(TaskB, 0));
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)TaskB, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase, g.ReadU32(Recorders.SavedIp));
        Assert.Equal(SegmentedGuest.TssSelector, g.SpecialRegisters.Tr.Selector);
    }

    [Fact]
    public void ATssShorterThan0x67RaisesTsWithItsSelector()
    {
        using var g = Guest();
        g.SetGate32(10, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 10, hasErrorCode: true);
        g.SetGdt(TaskB >> 3, SegmentedGuest.Descriptor(TssB, 0x60, 0x9, system: true));
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(TaskB, 0));
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(10u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)TaskB, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void ABadCodeSelectorInTheNewTssFaultsInTheNewTask()
    {
        using var g = Guest();
        // B's CS names a data segment: #TS(CS) after the commit point, delivered in task B (TR = B).
        WriteTss32(g, TssB, CodeB, 0x6800, cs: SegmentedGuest.KernelData);
        g.SetGate32(10, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 10, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(TaskB, 0));
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(10u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.KernelData, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)CodeB, g.ReadU32(Recorders.SavedIp)); // the new task's EIP
        Assert.Equal(TaskB, g.SpecialRegisters.Tr.Selector);
        Assert.True(IsBusy(g, TaskB));
    }

    [Fact]
    public void IretWithNtToALinkThatIsNotABusyTssRaisesTs()
    {
        using var g = Guest();
        g.SetGate32(10, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 10, hasErrorCode: true);
        g.WriteU16(SegmentedGuest.TssBase, TaskC);         // C is available, not busy
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.pushfd();
            a.or(__dword_ptr[esp], Nt);
            a.popfd();
            a.iretd();
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(10u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)TaskC, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void NestedCallsChainTheLinksAndUnwindInOrder()
    {
        using var g = Guest();
        WriteTss32(g, TssB, CodeB, 0x6800);
        WriteTss32(g, TssC, CodeC, 0x6C00);
        g.Load(CodeB, 32, a =>
        {
            a.or(__dword_ptr[0x600], 1);
            a.call(TaskC, 0);
            a.or(__dword_ptr[0x600], 4);
            a.iretd();
        });
        g.Load(CodeC, 32, a =>
        {
            a.or(__dword_ptr[0x600], 2);
            a.iretd();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.call(TaskB, 0);
            a.mov(eax, __dword_ptr[0x600]);
            a.hlt();
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(7UL, g.Registers.Rax);
        Assert.Equal(TaskB, (ushort)g.ReadU32(TssC));
        Assert.False(IsBusy(g, TaskB));
        Assert.False(IsBusy(g, TaskC));
        Assert.True(IsBusy(g, SegmentedGuest.TssSelector));
    }

    [Fact]
    public void A16BitTssRoundTripsItsWordRegisters()
    {
        using var g = Guest();
        g.SetGdt(Task16 >> 3, SegmentedGuest.Descriptor(Tss16, 0x2B, 0x1, system: true));
        g.Memory.Write(Tss16, new byte[0x2C]);
        g.WriteU16(Tss16 + 0x0E, 0x0000);                   // IP within the 16-bit segment based at CodeB
        g.WriteU16(Tss16 + 0x10, 2);                        // FLAGS
        g.WriteU16(Tss16 + 0x12, 0x1616);                   // AX
        g.WriteU16(Tss16 + 0x1A, 0x6800);                   // SP
        g.WriteU16(Tss16 + 0x22, SegmentedGuest.KernelData);
        g.WriteU16(Tss16 + 0x24, SegmentedGuest.KernelCode16);
        g.WriteU16(Tss16 + 0x26, SegmentedGuest.KernelData);
        g.WriteU16(Tss16 + 0x28, SegmentedGuest.KernelData);
        g.SetGdt(SegmentedGuest.KernelCode16 >> 3, SegmentedGuest.Descriptor(CodeB, 0xFFFF, 0xA));
        g.Load(CodeB, 16, a =>
        {
            a.mov(__word_ptr[0x600], ax);
            a.iret();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(eax, 0x7777_0000);
            a.call(Task16, 0);
            a.hlt();
        });
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1616u, g.ReadU32(0x600) & 0xFFFF);
        Assert.Equal(0x7777_0000UL, g.Registers.Rax);
        Assert.Equal(SegmentedGuest.TssSelector, (ushort)g.ReadU32(Tss16));
        Assert.Equal(4u, g.ReadU32(Tss16 + 0x0E) & 0xFFFF); // IP past MOV [0x600],AX (3 bytes) and IRET
    }

    [Fact]
    public void TheTssDebugTrapBitRaisesDbBeforeTheNewTasksFirstInstruction()
    {
        using var g = Guest();
        WriteTss32(g, TssB, CodeB, 0x6800);
        g.WriteU16(TssB + 0x64, 1);                         // T
        g.SetGate32(1, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 1, hasErrorCode: false);
        g.Load(CodeB, 32, a => a.hlt());
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(TaskB, 0));
        Start(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(1u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)CodeB, g.ReadU32(Recorders.SavedIp));
        Assert.Equal(0x6800u - 12, g.ReadU32(Recorders.StackPointer)); // on task B's stack
        Assert.NotEqual(0UL, g.Cpu.Dr[6] & (1UL << 15));   // DR6.BT
    }

    [Fact]
    public void InLongModeATssSelectorIsGp()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(13, SegmentedGuest.KernelCode64, 0x30000);
        Recorders.Handler64(g, 0x30000, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(SegmentedGuest.TssSelector, 0));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.TssSelector, g.ReadU32(Recorders.ErrorCode));
    }
}
