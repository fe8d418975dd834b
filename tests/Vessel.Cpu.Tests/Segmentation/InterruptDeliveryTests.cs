using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class InterruptDeliveryTests
{
    private const ulong Handler = 0x30000, Handler2 = 0x31000;

    [Fact]
    public void IntThroughA32BitGateRunsTheHandlerAndIretdResumes()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(0x40, SegmentedGuest.KernelCode32, Handler, type: 0xF);
        g.Load(Handler, 32, a =>
        {
            a.mov(__dword_ptr[0x610], esp);
            a.pushfd();
            a.pop(__dword_ptr[0x614]);
            a.iretd();
        });
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.@int(0x40);
            a.mov(ebx, 0x99);
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000, rflags: 0x202);
        var exit = g.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x7000u - 12, g.ReadU32(0x610)); // EFLAGS, CS, EIP at the same privilege
        Assert.Equal(0x200u, g.ReadU32(0x614) & 0x200); // a trap gate leaves IF set
        Assert.Equal(0x99UL, g.Registers.Rbx);
        Assert.Equal(0x7000UL, g.Registers.Rsp);
    }

    [Fact]
    public void Ring3InterruptSwitchesToTheTssStackAndIretReturnsToRing3()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(0x80, SegmentedGuest.KernelCode32, Handler, dpl: 3);
        g.Load(Handler, 32, a =>
        {
            a.mov(__dword_ptr[0x610], esp);
            a.mov(__dword_ptr[0x614], ss);
            a.mov(eax, __dword_ptr[esp + 12]); // user ESP
            a.mov(__dword_ptr[0x618], eax);
            a.mov(eax, __dword_ptr[esp + 16]); // user SS
            a.mov(__dword_ptr[0x61C], eax);
            a.iretd();
        });
        g.SetGate32(3, SegmentedGuest.KernelCode32, Handler2, dpl: 3);
        Recorders.Handler32(g, Handler2, 3, hasErrorCode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.@int(0x80);
            a.mov(__dword_ptr[0x620], esp);
            a.mov(__dword_ptr[0x624], ss);
            a.int3();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal((uint)SegmentedGuest.KernelStack - 20, g.ReadU32(0x610));
        Assert.Equal(SegmentedGuest.KernelData, (ushort)g.ReadU32(0x614));
        Assert.Equal((uint)SegmentedGuest.UserStack, g.ReadU32(0x618));
        Assert.Equal(SegmentedGuest.UserData, (ushort)g.ReadU32(0x61C));
        Assert.Equal((uint)SegmentedGuest.UserStack, g.ReadU32(0x620));
        Assert.Equal(SegmentedGuest.UserData, (ushort)g.ReadU32(0x624));
        Assert.Equal(3u, g.ReadU32(Recorders.Vector));
        Assert.Equal(SegmentedGuest.UserCode32, (ushort)g.ReadU32(Recorders.SavedCs));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 2 + 6 + 6 + 1, g.ReadU32(Recorders.SavedIp)); // INT3 is a trap
    }

    [Fact]
    public void SoftwareInterruptThroughAKernelOnlyGateIsGeneralProtection()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(0x81, SegmentedGuest.KernelCode32, Handler, dpl: 0);
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler2);
        Recorders.Handler32(g, Handler2, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.@int(0x81));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0x81u * 8 + 2, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase, g.ReadU32(Recorders.SavedIp)); // the fault points at the INT
    }

    [Fact]
    public void LongModeRing3InterruptUsesRsp0AndIretqRestoresUserStack()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(0x80, SegmentedGuest.KernelCode64, Handler, dpl: 3);
        g.Load(Handler, 64, a =>
        {
            a.mov(__qword_ptr[0x610], rsp);
            a.mov(__qword_ptr[0x618], ss);
            a.mov(rax, __qword_ptr[rsp + 24]);
            a.mov(__qword_ptr[0x620], rax);
            a.iretq();
        });
        g.SetGate64(3, SegmentedGuest.KernelCode64, Handler2, dpl: 3);
        Recorders.Handler64(g, Handler2, 3, hasErrorCode: false);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.@int(0x80);
            a.mov(__qword_ptr[0x628], rsp);
            a.int3();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode64, SegmentedGuest.UserData, SegmentedGuest.UserStack - 8);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(SegmentedGuest.KernelStack - 40, g.ReadU64(0x610));
        Assert.Equal(0UL, g.ReadU64(0x618));
        Assert.Equal(SegmentedGuest.UserStack - 8, g.ReadU64(0x620));
        Assert.Equal(SegmentedGuest.UserStack - 8, g.ReadU64(0x628));
        Assert.Equal((ulong)SegmentedGuest.UserData, g.ReadU64(Recorders.SavedSs));
    }

    [Fact]
    public void IstStackIsUsedEvenWithoutPrivilegeChange()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(13, SegmentedGuest.KernelCode64, Handler, ist: 1);
        Recorders.Handler64(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(ax, 0x80);
            a.mov(ds, ax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7008);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x80UL, g.ReadU64(Recorders.ErrorCode));
        Assert.Equal(SegmentedGuest.IstStack - 40, g.ReadU64(Recorders.StackPointer));
        Assert.Equal(0x7008UL, g.ReadU64(Recorders.SavedSp));
        Assert.Equal((ulong)SegmentedGuest.KernelData, g.ReadU64(Recorders.SavedSs));
    }

    [Fact]
    public void LongModeFrameIsAlignedTo16Bytes()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(0x40, SegmentedGuest.KernelCode64, Handler);
        Recorders.Handler64(g, Handler, 0x40, hasErrorCode: false);
        g.Load(SegmentedGuest.CodeBase, 64, a => a.@int(0x40));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7008);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x7000UL - 40, g.ReadU64(Recorders.StackPointer));
        Assert.Equal(0x7008UL, g.ReadU64(Recorders.SavedSp));
        Assert.Equal(SegmentedGuest.CodeBase + 2, g.ReadU64(Recorders.SavedIp));
    }

    [Fact]
    public void FaultWhileDeliveringAFaultBecomesDoubleFault()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler, present: false); // #GP's gate is missing: #NP
        g.SetGate32(8, SegmentedGuest.KernelCode32, Handler2);
        Recorders.Handler32(g, Handler2, 8, hasErrorCode: true);
        g.WriteU32(Recorders.ErrorCode, 0xFFFF);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 0x80);
            a.mov(ds, ax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(8u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0u, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void FaultWithoutAnyUsableIdtIsATripleFaultShutdown()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(ax, 0x80);
            a.mov(ds, ax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var exit = g.Run();
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
        Assert.Contains("triple fault", exit.Message);
    }

    [Fact]
    public void StackFaultsDuringDeliveryEscalateToTripleFault()
    {
        using var g = new SegmentedGuest(longMode: false);
        // A 256-byte stack segment with ESP at its bottom: every push of an exception frame faults.
        g.SetGdt(14, SegmentedGuest.Descriptor(0x6000, 0xFF, 0x2, dpl: 0, big: true));
        g.SetGate32(12, SegmentedGuest.KernelCode32, Handler);
        g.SetGate32(8, SegmentedGuest.KernelCode32, Handler);
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, 14 << 3);
            a.mov(ss, ax);
            a.mov(esp, 0); // the push wraps to 0xFFFFFFFC, beyond the limit
            a.push(eax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        var exit = g.Run();
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
        Assert.Contains("triple fault: exception 12", exit.Message); // #SS while delivering #DF
    }

    [Fact]
    public void ExternalEventsFaultsCarryTheExtBit()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(0x30, SegmentedGuest.KernelCode32, Handler, present: false);
        g.SetGate32(11, SegmentedGuest.KernelCode32, Handler2);
        Recorders.Handler32(g, Handler2, 11, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.nop();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000, rflags: 0x202);
        g.Cpu.InterruptController = new FakeInterruptController { Vectors = { 0x30 } };
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(11u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0x30u * 8 + 2 + 1, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void IretToRing3NullsDataSegmentsTheUserMayNotUse()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(0x80, SegmentedGuest.KernelCode32, Handler, dpl: 3);
        g.Load(Handler, 32, a =>
        {
            a.mov(ax, SegmentedGuest.KernelData);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.iretd();
        });
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler2);
        g.Load(Handler2, 32, a =>
        {
            // DS is null here too: interrupts do not reload it.
            a.mov(ax, SegmentedGuest.KernelData);
            a.mov(ds, ax);
            a.jmp(Handler2 + 0x100);
        });
        Recorders.Handler32(g, Handler2 + 0x100, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.@int(0x80);
            a.mov(eax, __dword_ptr.ss[0x100]); // SS is still the user's
            a.mov(eax, __dword_ptr[0x100]);    // DS was nulled by the IRET
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal(0u, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase + 2 + 6, g.ReadU32(Recorders.SavedIp));
        Assert.Equal(0, g.SpecialRegisters.Es.Selector);
    }

    [Fact]
    public void IdtOutsideRamReadsAllOnesAndEndsInATripleFault()
    {
        // An all-ones gate names selector 0xFFFF, past the GDT: #GP, whose gate is all ones too, then #DF.
        using var g = new SegmentedGuest(longMode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a => a.@int(0x40));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var s = g.SpecialRegisters;
        s.Idt = new DescriptorTable { Base = 0xF000_0000, Limit = 0xFFF };
        g.Guest.Vcpu.SetSpecialRegisters(s);
        var exit = g.Run();
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
        Assert.Contains("triple fault", exit.Message);
    }

    [Fact]
    public void FaultsSaveRfSetAndTrapsDoNot()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(6, SegmentedGuest.KernelCode64, Handler);
        g.Load(Handler, 64, a =>
        {
            a.mov(rax, __qword_ptr[rsp + 16]);
            a.mov(__qword_ptr[0x600], rax);
            a.add(__qword_ptr[rsp], 2); // skip the UD2
            a.iretq();
        });
        g.SetGate64(3, SegmentedGuest.KernelCode64, Handler2);
        Recorders.Handler64(g, Handler2, 3, hasErrorCode: false);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.ud2();
            a.pushfq();
            a.pop(__qword_ptr[0x608]);
            a.int3();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(Hypervisor.RflagsBits.Rf, g.ReadU64(0x600) & Hypervisor.RflagsBits.Rf);
        Assert.Equal(0UL, g.ReadU64(0x608) & Hypervisor.RflagsBits.Rf);
        Assert.Equal(3UL, g.ReadU64(Recorders.Vector) & 0xFF);
        Assert.Equal(0UL, g.Registers.Rflags & Hypervisor.RflagsBits.Rf);
    }

    /// <summary>Task gates switch tasks now (TaskSwitchTests); one naming the running, busy task is #GP with the
    /// TSS selector and EXT for an external interrupt, delivered in the interrupted task.</summary>
    [Fact]
    public void ExternalInterruptThroughATaskGateToTheBusyCurrentTaskIsGpWithExt()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGdt(SegmentedGuest.TssSelector >> 3, g.GetGdt(SegmentedGuest.TssSelector >> 3) | (1UL << 41));
        g.SetGate32(0x30, SegmentedGuest.TssSelector, 0, type: 0x5);
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
        Recorders.Handler32(g, Handler, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.nop());
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000, rflags: 0x202);
        g.Cpu.InterruptController = new FakeInterruptController { Vectors = { 0x30 } };
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)SegmentedGuest.TssSelector | 1, g.ReadU32(Recorders.ErrorCode));
    }

    [Fact]
    public void BadRing0StackInTheTssIsInvalidTssWithTheSelector()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.WriteU32(SegmentedGuest.TssBase + 8, SegmentedGuest.UserData); // SS0 with DPL 3
        g.SetGate32(0x80, SegmentedGuest.KernelCode32, Handler, dpl: 3);
        // #TS goes to a conforming handler, which runs at CPL 3 on the user stack (no stack switch needed).
        const ushort conforming = 11 << 3;
        g.SetGdt(11, SegmentedGuest.Code(dpl: 0, bits: 32, conforming: true));
        g.SetGate32(10, conforming, Handler2, dpl: 0);
        g.Load(Handler2, 32, a =>
        {
            a.pop(eax);
            a.mov(__dword_ptr[0x600], eax);
            a.mov(__dword_ptr[0x604], esp);
            a.cli(); // #GP at CPL 3; no #GP or #DF gate: the run ends in a triple fault
        });
        g.Load(SegmentedGuest.CodeBase, 32, a => a.@int(0x80));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Shutdown, g.Run().Reason);
        Assert.Equal((uint)SegmentedGuest.UserData & ~3u, g.ReadU32(0x600)); // INT n: EXT clear
        Assert.Equal((uint)SegmentedGuest.UserStack - 12, g.ReadU32(0x604));
    }
}
