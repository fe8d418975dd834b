using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The jump cache holds a kernel path's working set: a guest's network upload returns and calls through
/// some hundreds of distinct targets spread over a megabyte of kernel code per packet, and a target that shares its
/// slot with another is a return to the run loop on every pass (4,096 slots a bank missed 21,000 times per MiB
/// uploaded, 3,600 with 16,384).</summary>
public class NativeJumpCacheCapacityTests
{
    private const int Functions = 600;
    private const ulong FunctionArea = 0x100000, Table = 0x60000;

    [Fact]
    public void Hundreds_of_call_targets_over_a_megabyte_stay_cached_from_pass_to_pass()
    {
        (long fillsShort, ulong sumShort) = RunPasses(2);
        (long fillsLong, ulong sumLong) = RunPasses(12);

        Assert.Equal(2UL * Functions, sumShort);
        Assert.Equal(12UL * Functions, sumLong);
        Assert.True(fillsShort >= Functions, $"{fillsShort} fills for {Functions} targets seen");
        // Each pass after the first two refills only the targets that share a slot with another.
        double refillsPerPass = (fillsLong - fillsShort) / 10.0;
        Assert.True(refillsPerPass < Functions * 0.06, $"{refillsPerPass} of {Functions} targets refilled per pass");
    }

    /// <summary>Calls every function through a table, <paramref name="passes"/> times; returns the jump-cache fills and
    /// the functions' count of calls.</summary>
    private static (long Fills, ulong Calls) RunPasses(int passes)
    {
        using var g = new PagedGuest(NativeTierTests.NativeOptions);
        // One function per slot of a fixed pseudo-random layout: 16-byte aligned, at most one a 64-byte line.
        var random = new Random(20);
        var taken = new HashSet<ulong>();
        for (int i = 0; i < Functions; i++)
        {
            ulong at;
            do at = FunctionArea + (ulong)random.Next(0, 0x100000 / 64) * 64;
            while (!taken.Add(at));
            g.Guest.Load(at, 64, a =>
            {
                a.inc(rbx);
                a.ret();
            });
            g.Guest.WriteU64(Table + (ulong)i * 8, at);
        }

        VcpuExit exit = g.Run(a =>
        {
            var pass = a.CreateLabel();
            var call = a.CreateLabel();
            a.xor(ebx, ebx);
            a.mov(r12d, passes);
            a.Label(ref pass);
            a.xor(esi, esi);
            a.Label(ref call);
            a.mov(rax, __qword_ptr[rsi * 8 + (long)Table]);
            a.call(rax);
            a.inc(esi);
            a.cmp(esi, Functions);
            a.jb(call);
            a.dec(r12d);
            a.jnz(pass);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        return (g.Guest.Cpu.NativeJumpCacheFills, g.Guest.Registers.Rbx);
    }
}
