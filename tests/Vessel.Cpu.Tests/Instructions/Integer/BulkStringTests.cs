using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Instructions.Integer;

/// <summary>REP MOVS/STOS run in bulk over pages the TLBs map: the outcome (registers, memory, faults, code
/// invalidation, MMIO exits) must be exactly the element loop's, which the differential tests hold against the
/// host CPU.</summary>
public class BulkStringTests
{
    private const ulong Area = 0x100000, AreaBytes = 0x10000;

    private sealed record Outcome(string Registers, string Memory, ulong FaultVector, ulong FaultAddress, long BulkOperations);

    /// <summary>Runs <paramref name="code"/> with the area filled with a pattern; the #PF handler records faults.</summary>
    private static Outcome Run(bool bulk, Action<Assembler> code, Action<PagedGuest>? setup = null)
    {
        using var g = new PagedGuest();
        var pattern = new byte[AreaBytes];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(i * 7 + (i >> 8));
        g.Guest.Memory.Write(Area, pattern);
        setup?.Invoke(g);
        g.Guest.Cpu.BulkStrings.Enabled = bulk;
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var r = g.Guest.Registers;
        var memory = new byte[AreaBytes];
        g.Guest.Memory.Read(Area, memory);
        return new Outcome($"rcx={r.Rcx:x} rsi={r.Rsi:x} rdi={r.Rdi:x} rax={r.Rax:x} rflags={r.Rflags:x}",
            Convert.ToHexString(memory), g.Guest.ReadU64(PagedGuest.FaultVector), g.Guest.ReadU64(PagedGuest.FaultAddress),
            g.Guest.Cpu.BulkStrings.Operations);
    }

    private static void Emit(Assembler a, int size, bool movs)
    {
        switch (size, movs)
        {
            case (1, true): a.rep.movsb(); break;
            case (2, true): a.rep.movsw(); break;
            case (4, true): a.rep.movsd(); break;
            case (8, true): a.rep.movsq(); break;
            case (1, false): a.rep.stosb(); break;
            case (2, false): a.rep.stosw(); break;
            case (4, false): a.rep.stosd(); break;
            default: a.rep.stosq(); break;
        }
    }

    /// <summary>Sources and destinations a few bytes either side of page boundaries, overlapping at every small
    /// distance both ways and not at all, counts covering several pages, both directions.</summary>
    public static TheoryData<int, bool, bool> Forms()
    {
        var data = new TheoryData<int, bool, bool>();
        foreach (int size in new[] { 1, 2, 4, 8 })
            foreach (bool movs in new[] { true, false })
                foreach (bool down in new[] { false, true })
                    data.Add(size, movs, down);
        return data;
    }

    [Theory, MemberData(nameof(Forms))]
    public void BulkAgreesWithTheElementLoop(int size, bool movs, bool down)
    {
        var random = new Random(size * 4 + (movs ? 2 : 0) + (down ? 1 : 0));
        int[] distances = [-17, -9, -8, -7, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 0x1800, -0x2801];
        int bulkRuns = 0;
        foreach (int distance in distances)
        {
            ulong src = Area + 0x4000 + (ulong)random.Next(-12, 12) + (ulong)random.Next(3) * 0x1000;
            ulong dst = movs ? (ulong)((long)src + distance) : Area + 0x3000 + (ulong)random.Next(-12, 12);
            ulong count = (ulong)(random.Next(3) == 0 ? random.Next(1, 40) : random.Next(0x1000, 0x2800) / size);
            if (down) { src += count * (ulong)size; dst += count * (ulong)size; }
            void Code(Assembler a)
            {
                a.mov(rsi, src);
                a.mov(rdi, dst);
                a.mov(rcx, count);
                a.mov(rax, 0x1122_3344_5566_7788UL);
                if (down) a.std();
                Emit(a, size, movs);
                a.cld();
                a.hlt();
            }
            Outcome bulk = Run(true, Code), slow = Run(false, Code);
            Assert.Equal(slow with { BulkOperations = 0 }, bulk with { BulkOperations = 0 });
            Assert.Equal(0, slow.BulkOperations);
            if (bulk.BulkOperations > 0) bulkRuns++;
        }
        Assert.True(bulkRuns >= distances.Length / 2, $"bulk path taken in only {bulkRuns} runs");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AddressSize32IgnoresAndClearsUpperHalves(bool down)
    {
        // With a 0x67 prefix only ECX/ESI/EDI count; the bulk path must mask and write them as the element loop does.
        ulong start = down ? 0x17FFUL : 0;
        void Code(Assembler a)
        {
            a.mov(rsi, 0xAB_0000_0000UL | (Area + 0x1234 + start));
            a.mov(rdi, 0xCD_0000_0000UL | (Area + 0x5100 + start));
            a.mov(rcx, 0x1_0000_1800UL);
            if (down) a.std();
            a.AddInstruction(Instruction.CreateMovsb(32, Register.None, RepPrefixKind.Repe));
            a.cld();
            a.hlt();
        }
        Outcome bulk = Run(true, Code), slow = Run(false, Code);
        Assert.Equal(slow with { BulkOperations = 0 }, bulk with { BulkOperations = 0 });
        Assert.True(bulk.BulkOperations > 0);
        ulong Final(ulong first) => down ? first + start - 0x1800 : first + 0x1800;
        Assert.StartsWith($"rcx=0 rsi={Final(Area + 0x1234):x} rdi={Final(Area + 0x5100):x}", bulk.Registers);
    }

    [Theory]
    [InlineData(8, false, 0)]
    [InlineData(8, false, 4)] // the faulting element straddles the page boundary
    [InlineData(1, true, 0)]
    [InlineData(4, true, 2)]
    public void FaultMidwayLeavesRegistersAtTheFaultingElement(int size, bool movs, int misalign)
    {
        const ulong Unmapped = Area + 0x6000;
        ulong dst = Area + 0x4000 - (ulong)misalign;
        ulong count = 0x3000 / (ulong)size;
        void Code(Assembler a)
        {
            a.mov(rsi, Area + 0x8000);
            a.mov(rdi, dst);
            a.mov(rcx, count);
            a.mov(rax, 0x0102_0304_0506_0708UL);
            Emit(a, size, movs);
            a.hlt();
        }
        void Unmap(PagedGuest g) => g.SetPte(Unmapped, 0);
        Outcome bulk = Run(true, Code, Unmap), slow = Run(false, Code, Unmap);
        Assert.Equal(slow with { BulkOperations = 0 }, bulk with { BulkOperations = 0 });
        Assert.True(bulk.BulkOperations > 0);
        Assert.Equal(14UL, bulk.FaultVector);
        Assert.Equal(Unmapped, bulk.FaultAddress);
        ulong done = (Unmapped - dst) / (ulong)size; // elements wholly before the unmapped page
        Assert.Contains($"rcx={count - done:x} rsi={Area + 0x8000 + (movs ? done * (ulong)size : 0):x} rdi={dst + done * (ulong)size:x}", bulk.Registers);
    }

    [Fact]
    public void BulkCopyOverDecodedCodeIsRedecoded()
    {
        const ulong Function = 0x20000, NewBody = Area + 0x800;
        using var g = new PagedGuest();
        g.Guest.Load(Function, 64, a => { a.mov(eax, 1); a.ret(); });
        g.Guest.Load(NewBody, 64, a => { a.mov(eax, 2); a.ret(); });
        VcpuExit exit = g.Run(a =>
        {
            a.mov(__qword_ptr[Function + 0x800], rax); // the write TLB maps the page before it holds code
            a.mov(rax, Function);
            a.call(rax);
            a.mov(ebx, eax);
            // Copy a page whose start is the new body over the function: one bulk copy of the whole page.
            a.mov(rsi, NewBody);
            a.mov(rdi, Function);
            a.mov(ecx, 0x200);
            a.rep.movsq();
            a.mov(rax, Function);
            a.call(rax);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var r = g.Guest.Registers;
        Assert.Equal(1UL, r.Rbx);
        Assert.Equal(2UL, r.Rax);
    }

    [Fact]
    public void MmioDestinationSeesEveryElement()
    {
        const ulong Device = Area + 0x5000, DevicePhysical = 0x4000_0000;
        using var g = new PagedGuest();
        g.SetPte(Device, DevicePhysical | PagedGuest.Present | PagedGuest.Writable);
        VcpuExit exit = g.Run(a =>
        {
            // 0x100 bytes before the device page in RAM, then 16 dwords into the device.
            a.mov(rdi, Device - 0x100);
            a.mov(ecx, 0x40 + 16);
            a.mov(eax, 0xCAFE_F00D);
            a.rep.stosd();
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var writes = g.Guest.Guest.Exits.Where(e => e.Reason == VcpuExitReason.MmioWrite).ToList();
        Assert.Equal(16, writes.Count);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(DevicePhysical + (ulong)i * 4, writes[i].Address);
            Assert.Equal(0xCAFE_F00DUL, writes[i].Data);
        }
        Assert.Equal(0xCAFE_F00DU, g.Guest.ReadU32(Device - 0x100));
        Assert.Equal(0xCAFE_F00DU, g.Guest.ReadU32(Device - 4));
        Assert.Equal(0UL, g.Guest.Registers.Rcx);
    }
}
