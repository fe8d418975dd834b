using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

public class SingleStepTests
{
    private const ulong Handler = 0x30000, Log = 0x800;

    [Fact]
    public void TrapFollowsEachInstructionStartedWithTfSet()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(1, SegmentedGuest.KernelCode32, Handler);
        g.Load(Handler, 32, a =>
        {
            // Log the return EIP at Log + 4 * count, count at Log - 4.
            a.push(eax);
            a.push(ecx);
            a.mov(ecx, __dword_ptr[Log - 4]);
            a.mov(eax, __dword_ptr[esp + 8]);
            a.mov(__dword_ptr[ecx * 4 + (long)Log], eax);
            a.inc(__dword_ptr[Log - 4]);
            a.pop(ecx);
            a.pop(eax);
            a.iretd();
        });
        g.SetGate32(3, SegmentedGuest.KernelCode32, 0x31000);
        Recorders.Handler32(g, 0x31000, 3, hasErrorCode: false);
        ulong steps = SegmentedGuest.CodeBase + 9;
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.pushfd();
            a.or(__dword_ptr[esp], 0x100);
            a.popfd();           // sets TF: no trap after the POPF itself
            a.inc(ebx);          // steps + 0
            a.inc(ebx);          // steps + 1
            a.nop();             // steps + 2
            a.int3();            // steps + 3: INT3 clears TF on delivery, so it does not trap
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(3u, g.ReadU32(Log - 4));
        Assert.Equal((uint)steps + 1, g.ReadU32(Log));
        Assert.Equal((uint)steps + 2, g.ReadU32(Log + 4));
        Assert.Equal((uint)steps + 3, g.ReadU32(Log + 8));
        Assert.Equal(2UL, g.Registers.Rbx);
        Assert.Equal(3u, g.ReadU32(Recorders.Vector));
    }

    /// <summary>A POPF that clears TF began with TF set, so it traps too (kvm-unit-tests' debug test counts
    /// three #DBs here), its trap pointing after it; nothing traps once TF is clear.</summary>
    [Fact]
    public void PopfThatClearsTfStillTraps()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(1, SegmentedGuest.KernelCode32, Handler);
        g.Load(Handler, 32, a =>
        {
            a.push(eax);
            a.push(ecx);
            a.mov(ecx, __dword_ptr[Log - 4]);
            a.mov(eax, __dword_ptr[esp + 8]);
            a.mov(__dword_ptr[ecx * 4 + (long)Log], eax);
            a.inc(__dword_ptr[Log - 4]);
            a.pop(ecx);
            a.pop(eax);
            a.iretd();
        });
        ulong afterAnd = SegmentedGuest.CodeBase + 14; // pushfd 1, pop 1, or eax,imm32 5, push 1, popfd 1, and eax,imm32 5
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.pushfd();                  // 1 byte
            a.pop(eax);                  // 1
            a.or(eax, 0x100);            // 5 (imm32 form)
            a.push(eax);                 // 1
            a.popfd();                   // 1: sets TF, no trap after it
            a.and(eax, ~0x100);          // 5: the first trap, after it
            a.push(eax);
            a.popfd();                   // clears TF: still traps
            a.nop();
            a.nop();
            a.cli();
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        uint n = g.ReadU32(Log - 4);
        Assert.Equal(3u, n);
        Assert.Equal((uint)afterAnd, g.ReadU32(Log));
        Assert.Equal((uint)afterAnd + 1, g.ReadU32(Log + 4));   // after PUSH
        Assert.Equal((uint)afterAnd + 2, g.ReadU32(Log + 8));   // after the POPF that cleared TF
    }
}
