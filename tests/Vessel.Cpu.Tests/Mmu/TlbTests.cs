using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.MemoryAccess;

/// <summary>The TLB's flushes: a CR3 flush drops every non-global entry and keeps the global ones (whether the fills
/// since the last flush fit its list of slots or overflowed it), a full flush drops everything including the globals
/// a CR3 flush kept, INVLPG drops every 4 KiB piece of a large page it hits and leaves 4 KiB pages elsewhere, and a
/// write translation serves reads of its page.</summary>
public class TlbTests
{
    private static ulong PageAt(int i) => 0x7F00_0000_0000UL + (ulong)i * 0x1000;

    /// <summary>Fills <paramref name="count"/> consecutive pages (each its own slot while count is at most the size),
    /// every third one global.</summary>
    private static void FillPages(Tlb tlb, int count, int first = 0)
    {
        for (int i = first; i < first + count; i++)
        {
            ulong linear = PageAt(i);
            ref TlbEntry e = ref tlb.EntryFor(linear);
            e.Tag = Tlb.TagOf(linear, 1);
            e.Delta = 0x1000;
            e.Global = i % 3 == 0;
            e.LargeShift = 0;
            tlb.NoteFilled(linear);
        }
    }

    private static unsafe bool Maps(Tlb tlb, int i) => Mmu.Probe(tlb, PageAt(i), 8, 1) != null;

    [Theory]
    [InlineData(100)]            // the list holds every fill
    [InlineData(Tlb.Entries)]    // exactly full
    [InlineData(3 * Tlb.Entries)] // overflowed: pages refilled over each other, the flush scans the table
    public void A_cr3_flush_keeps_global_entries_and_drops_the_rest(int fills)
    {
        var tlb = new Tlb();
        FillPages(tlb, fills);
        tlb.FlushNonGlobal();
        for (int i = Math.Max(0, fills - Tlb.Entries); i < fills; i++)
            Assert.Equal(i % 3 == 0, Maps(tlb, i));

        // The kept globals are still visited by later flushes: a second CR3 flush keeps them, a full flush drops them.
        FillPages(tlb, 50, first: fills + 7);
        tlb.FlushNonGlobal();
        for (int i = fills + 7; i < fills + 57; i++) Assert.Equal(i % 3 == 0, Maps(tlb, i));
        tlb.Flush();
        for (int i = 0; i < fills + 57; i++) Assert.False(Maps(tlb, i), $"page {i} survived a full flush");
    }

    [Fact]
    public void Invlpg_drops_the_pieces_of_the_large_page_it_hits_and_nothing_else()
    {
        var tlb = new Tlb();
        FillPages(tlb, 8);
        // Two pieces of the 2 MiB page at 0x4000_0000 and one of the next 2 MiB page.
        ulong[] large = [0x4000_9000, 0x4001_F000, 0x4020_0000];
        foreach (ulong linear in large)
        {
            ref TlbEntry e = ref tlb.EntryFor(linear);
            e.Tag = Tlb.TagOf(linear, 0);
            e.LargeShift = 21;
            e.Global = true;
            tlb.NoteFilled(linear);
            tlb.NoteLargePiece(linear);
        }

        tlb.FlushPage(0x4010_0123);

        unsafe
        {
            Assert.True(Mmu.Probe(tlb, 0x4000_9000, 8, 0) == null);
            Assert.True(Mmu.Probe(tlb, 0x4001_F000, 8, 0) == null);
            Assert.True(Mmu.Probe(tlb, 0x4020_0000, 8, 0) != null);
        }
        for (int i = 0; i < 8; i++) Assert.True(Maps(tlb, i), $"4 KiB page {i} dropped by an INVLPG elsewhere");
    }

    /// <summary>The access test of kvm-unit-tests runs two million INVLPGs with pieces of large pages in its TLBs:
    /// a scan of every entry per INVLPG (three tables of 4,096) made it 1.6 times slower than with 256 entries.</summary>
    [Fact]
    public void Invlpg_visits_the_slots_holding_large_page_pieces_not_the_whole_table()
    {
        var tlb = new Tlb();
        FillPages(tlb, 1000, first: 1024); // slots 1024-2023, clear of the pieces' 9, 31 and 512
        ulong[] large = [0x4000_9000, 0x4001_F000, 0x4020_0000];
        foreach (ulong linear in large)
        {
            ref TlbEntry e = ref tlb.EntryFor(linear);
            e.Tag = Tlb.TagOf(linear, 0);
            e.LargeShift = 21;
            tlb.NoteFilled(linear);
            tlb.NoteLargePiece(linear);
            tlb.NoteLargePiece(linear); // filled twice: listed once
        }

        tlb.FlushPage(0x4000_0000);
        Assert.Equal(3, tlb.SlotsVisitedByLastFlushPage);
        Assert.True(tlb.HoldsLargePages);
        // The two pieces it dropped are no longer visited, and a 4 KiB page refilled over a piece's slot is not
        // taken for one: INVLPG of its address in the large page's range leaves it.
        ref TlbEntry small = ref tlb.EntryFor(0x4020_0000);
        small.LargeShift = 0;
        tlb.FlushPage(0x4020_1000);
        Assert.Equal(1, tlb.SlotsVisitedByLastFlushPage);
        unsafe { Assert.True(Mmu.Probe(tlb, 0x4020_0000, 8, 0) != null); }
        Assert.False(tlb.HoldsLargePages);
        tlb.FlushPage(0x4020_0000);
        Assert.Equal(0, tlb.SlotsVisitedByLastFlushPage);
        for (int i = 1024; i < 2024; i++) Assert.True(Maps(tlb, i), $"4 KiB page {i} dropped by an INVLPG elsewhere");
    }

    [Fact]
    public void Invlpg_inside_a_large_page_makes_a_new_mapping_of_its_other_pieces_visible()
    {
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new PagedGuest(options);
            const ulong LargeDirectory = 0x46000, NewTable = 0x45000, Data = 0xC000, Large = 0x4000_0000;
            // Linear 1 GiB: a page directory whose entry 0 is one 2 MiB page onto physical 0.
            g.Guest.WriteU64(PagedGuest.Pdpt + 8, LargeDirectory | PagedGuest.Present | PagedGuest.Writable);
            g.Guest.WriteU64(LargeDirectory, PagedGuest.Present | PagedGuest.Writable | PagedGuest.Large);
            g.Guest.WriteU64(Data, 1);
            g.Guest.WriteU64(Data + 0x1000, 2);
            // A page table for the same 2 MiB with 4 KiB pages, Data's page onto the next one.
            for (ulong i = 0; i < 512; i++) g.Guest.WriteU64(NewTable + i * 8, i * 0x1000 | PagedGuest.Present | PagedGuest.Writable);
            g.Guest.WriteU64(NewTable + (Data >> 12) * 8, (Data + 0x1000) | PagedGuest.Present | PagedGuest.Writable);
            VcpuExit exit = g.Run(a =>
            {
                a.mov(rax, __qword_ptr[Large + Data]);                  // a piece of the 2 MiB page
                a.mov(__qword_ptr[LargeDirectory], (int)(NewTable | PagedGuest.Present | PagedGuest.Writable));
                a.mov(rcx, Large + 0x5000);
                a.invlpg(__[rcx]);                                      // another piece of the same large page
                a.mov(rbx, __qword_ptr[Large + Data]);
                a.hlt();
            });
            Assert.Equal(VcpuExitReason.Halt, exit.Reason);
            Assert.Equal((options.Tier, 1UL), (options.Tier, g.Guest.Registers.Rax));
            Assert.Equal((options.Tier, 2UL), (options.Tier, g.Guest.Registers.Rbx));
        }
    }

    [Fact]
    public void A_write_translation_serves_reads_of_its_page()
    {
        using var g = new PagedGuest();
        const ulong Data = 0xC000;
        VcpuExit exit = g.Run(a =>
        {
            a.mov(__qword_ptr[Data + 8], 0x55);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        unsafe
        {
            Tlb read = g.Guest.Cpu.MemoryUnit.Read;
            byte* p = Mmu.Probe(read, Data + 8, 8, 0);
            Assert.True(p != null, "the written page is not in the read TLB");
            Assert.Equal(0x55UL, *(ulong*)p);
        }
    }
}
