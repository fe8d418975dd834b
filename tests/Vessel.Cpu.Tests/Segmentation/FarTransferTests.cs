using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class FarTransferTests
{
    private const ulong Target = 0x20000;

    [Fact]
    public void FarJumpIntoA32BitSegmentWithItsOwnBase()
    {
        using var g = new SegmentedGuest(longMode: false);
        const ushort based = 11 << 3;
        g.SetGdt(11, SegmentedGuest.Code(dpl: 0, bits: 32, baseAddress: Target));
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(based, 0x10));
        g.Load(Target + 0x10, 32, a =>
        {
            a.mov(eax, 0x77);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x77UL, g.Registers.Rax);
        Assert.Equal(0x16UL, g.Registers.Rip); // an offset within the segment: past MOV EAX (5 bytes) and HLT at 0x10
        Assert.Equal(based, g.SpecialRegisters.Cs.Selector);
        Assert.Equal(Target, g.SpecialRegisters.Cs.Base);
        Assert.True((g.GetGdt(11) & (1UL << 40)) != 0, "the accessed bit is set in the descriptor");
    }

    [Fact]
    public void FarJumpFromCompatibilityModeInto64BitCode()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(SegmentedGuest.KernelCode64, (uint)Target));
        g.Load(Target, 64, a =>
        {
            a.mov(rax, 0x1234_5678_9ABC_DEF0);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1234_5678_9ABC_DEF0UL, g.Registers.Rax);
        Assert.True(g.SpecialRegisters.Cs.Long);
    }

    [Fact]
    public void FarReturnFrom64BitCodeToCompatibilityMode()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.push(SegmentedGuest.KernelCode32);
            a.push((int)Target);
            a.db(0x48, 0xCB); // retfq
        });
        g.Load(Target, 32, a =>
        {
            a.mov(eax, 0x32);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x32UL, g.Registers.Rax);
        Assert.False(g.SpecialRegisters.Cs.Long);
        Assert.Equal(0x7000UL, g.Registers.Rsp);
    }

    [Fact]
    public void FarJumpToNonConformingSegmentOfAnotherRingFaults()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(13, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(SegmentedGuest.UserCode32, 0x1000));
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal(SegmentedGuest.UserCode32 & ~3u, g.ReadU32(Recorders.ErrorCode));
        Assert.Equal((uint)SegmentedGuest.CodeBase, g.ReadU32(Recorders.SavedIp));
    }

    [Fact]
    public void CallGateFromRing3ToRing0SwitchesStacksCopiesParametersAndReturns()
    {
        using var g = new SegmentedGuest(longMode: false);
        const ushort gate = (12 << 3) | 3;
        g.SetCallGate(12, SegmentedGuest.KernelCode32, 0x30000, dpl: 3, parameters: 2);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.push(0x22);
            a.push(0x11);
            a.call(gate, 0);
            a.mov(__dword_ptr[0x600], esp);
            a.mov(__dword_ptr[0x604], cs);
            a.int3(); // ends the run through a DPL 3 gate
        });
        g.Load(0x30000, 32, a =>
        {
            a.mov(__dword_ptr[0x610], esp);
            a.mov(eax, __dword_ptr[esp + 8]); // first parameter after EIP and CS
            a.mov(__dword_ptr[0x614], eax);
            a.mov(eax, __dword_ptr[esp + 12]);
            a.mov(__dword_ptr[0x618], eax);
            a.mov(__dword_ptr[0x61C], ss);
            a.retf(8);
        });
        g.SetGate32(3, SegmentedGuest.KernelCode32, 0x31000, type: 0xE, dpl: 3);
        Recorders.Handler32(g, 0x31000, 3, hasErrorCode: false);
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        // Ring 0 stack: SS, ESP, two parameters, CS, EIP = 6 dwords below ESP0.
        Assert.Equal((uint)SegmentedGuest.KernelStack - 24, g.ReadU32(0x610));
        Assert.Equal(0x11u, g.ReadU32(0x614));
        Assert.Equal(0x22u, g.ReadU32(0x618));
        Assert.Equal(SegmentedGuest.KernelData, (ushort)g.ReadU32(0x61C));
        // Back in ring 3 with the parameters released from the user stack.
        Assert.Equal((uint)SegmentedGuest.UserStack, g.ReadU32(0x600));
        Assert.Equal(SegmentedGuest.UserCode32, (ushort)g.ReadU32(0x604));
        Assert.Equal(3u, g.ReadU32(Recorders.Vector));
    }

    [Fact]
    public void CallGate64FromRing3UsesRsp0AndFarReturnRestoresRing3()
    {
        using var g = new SegmentedGuest(longMode: true);
        const ushort gate = (12 << 3) | 3;
        g.SetCallGate(12, SegmentedGuest.KernelCode64, 0x30000, dpl: 3);
        // call m16:32 through the pointer at 0x700 (offset dword, ignored for a gate, then selector)
        g.WriteU32(0x700, 0);
        g.WriteU16(0x704, gate);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.call(__fword_ptr[0x700]);
            a.mov(__qword_ptr[0x600], rsp);
            a.mov(__qword_ptr[0x608], cs);
            a.int3();
        });
        g.Load(0x30000, 64, a =>
        {
            a.mov(__qword_ptr[0x610], rsp);
            a.mov(__qword_ptr[0x618], ss);
            a.mov(rax, __qword_ptr[rsp + 24]); // caller's SS
            a.mov(__qword_ptr[0x620], rax);
            a.db(0x48, 0xCB); // retfq
        });
        g.SetGate64(3, SegmentedGuest.KernelCode64, 0x31000, dpl: 3);
        Recorders.Handler64(g, 0x31000, 3, hasErrorCode: false);
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode64, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(SegmentedGuest.KernelStack - 32, g.ReadU64(0x610));
        Assert.Equal(0UL, g.ReadU64(0x618)); // SS becomes a null selector with RPL 0
        Assert.Equal((ulong)SegmentedGuest.UserData, g.ReadU64(0x620));
        Assert.Equal(SegmentedGuest.UserStack, g.ReadU64(0x600));
        Assert.Equal((ulong)SegmentedGuest.UserCode64, g.ReadU64(0x608));
    }

    [Fact]
    public void ConformingCodeRunsAtTheCallersPrivilege()
    {
        using var g = new SegmentedGuest(longMode: false);
        const ushort conforming = 11 << 3;
        g.SetGdt(11, SegmentedGuest.Code(dpl: 0, bits: 32, conforming: true));
        g.SetGate32(13, SegmentedGuest.KernelCode32, 0x30000);
        Recorders.Handler32(g, 0x30000, 13, hasErrorCode: true);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(conforming, (uint)Target));
        g.Load(Target, 32, a =>
        {
            a.mov(__dword_ptr[0x600], cs);
            a.cli(); // still CPL 3 with IOPL 0: #GP
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.UserCode32, SegmentedGuest.UserData, SegmentedGuest.UserStack);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(conforming | 3u, g.ReadU32(0x600) & 0xFFFF);
        Assert.Equal(13u, g.ReadU32(Recorders.Vector));
        Assert.Equal((uint)Target + 6, g.ReadU32(Recorders.SavedIp));
    }

    [Fact]
    public void RexWIndirectFarJumpTakesA64BitOffset()
    {
        using var g = new SegmentedGuest(longMode: true);
        const ulong high = 0x3_0000; // an offset beyond 16 bits read from the m16:64 operand
        g.WriteU64(0x700, high);
        g.WriteU16(0x708, SegmentedGuest.KernelCode64);
        g.Load(SegmentedGuest.CodeBase, 64, a => a.db(0x48, 0xFF, 0x2C, 0x25, 0x00, 0x07, 0x00, 0x00)); // rex.w jmp far [0x700]
        g.Load(high, 64, a =>
        {
            a.mov(eax, 0x64);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x64UL, g.Registers.Rax);
    }

    [Fact]
    public void FarJumpInto16BitProtectedModeCode()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a => a.jmp(SegmentedGuest.KernelCode16, 0x8000));
        g.Load(0x8000, 16, a =>
        {
            a.mov(ax, SegmentedGuest.KernelData);
            a.mov(ds, ax);
            a.mov(bx, 0x1234);
            a.push(bx);              // a 16-bit push in 16-bit code
            a.mov(ecx, 0x5678_9ABC); // needs the operand-size prefix here
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1234UL, g.Registers.Rbx);
        Assert.Equal(0x7000UL - 2, g.Registers.Rsp);
        Assert.Equal(0x5678_9ABCUL, g.Registers.Rcx);
        Assert.False(g.SpecialRegisters.Cs.DefaultBig);
    }
}
