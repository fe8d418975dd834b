using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>A 64-bit guest calling far more distinct blocks than a small budget holds, every one translated: the
/// caches flush again and again, the charge and the arena stay within their bounds, and the guest still runs right.</summary>
public class NativeCodeBudgetTests
{
    private const ulong Sled = 0x100000;
    private const int Entries = 16384, EntryBytes = 3, Passes = 3;

    [Fact]
    public void Translated_code_churned_through_a_small_budget_stays_within_it_and_runs_right()
    {
        const long Budget = 256 << 10;
        var options = NativeTierTests.NativeOptions with { CodeCacheBytes = Budget };
        using var g = new PagedGuest(options);
        var sled = new byte[Entries * EntryBytes];
        for (int i = 0; i < Entries; i++)
        {
            sled[i * EntryBytes] = 0xFF; // inc eax
            sled[i * EntryBytes + 1] = 0xC0;
            sled[i * EntryBytes + 2] = 0xC3; // ret
        }
        g.Guest.Memory.Write(Sled, sled);

        VcpuExit exit = g.Run(a =>
        {
            var pass = a.CreateLabel();
            var next = a.CreateLabel();
            a.xor(eax, eax);
            a.mov(r12d, Passes);
            a.Label(ref pass);
            a.mov(rbx, Sled);
            a.Label(ref next);
            a.call(rbx);
            a.add(rbx, EntryBytes);
            a.mov(rcx, Sled + (ulong)(Entries * EntryBytes));
            a.cmp(rbx, rcx);
            a.jb(next);
            a.dec(r12d);
            a.jnz(pass);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal((ulong)(Entries * Passes), g.Guest.Guest.Vcpu.GetRegisters().Rax);
        var machine = ((EmuVirtualMachine)g.Guest.Guest.Vm).Machine;
        CodeCacheBudget budget = machine.CodeCache;
        ExecutableArena arena = machine.NativeCode;
        Assert.True(g.Guest.Cpu.NativeTranslations > Entries, $"{g.Guest.Cpu.NativeTranslations} translations");
        Assert.True(budget.FlushEpoch > 10, $"{budget.FlushEpoch} flushes: the budget never filled");
        Assert.InRange(budget.UsedBytes, 0, Budget);
        Assert.InRange(arena.LiveChunks * ExecutableArena.SmallestChunk, 0, Budget);
        Assert.InRange(arena.HighWaterBytes, 0, arena.CapacityBytes);
    }
}
