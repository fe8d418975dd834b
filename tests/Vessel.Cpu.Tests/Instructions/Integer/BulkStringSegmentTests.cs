using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Instructions.Integer;

/// <summary>Bulk REP MOVS/STOS in 32-bit protected mode against a segment limit: the bulk path must stop short of
/// the limit and leave the #GP, with ECX/ESI/EDI at the faulting element, to the element loop, in both directions.</summary>
public class BulkStringSegmentTests
{
    private const ushort Limited = 0x60;
    // A base and a limit inside pages, so page ends do not stop the bulk path before the limit or offset 0 do.
    private const ulong LimitedBase = 0x100800, Limit = 0x2C7F, Handler = 0x30000;

    private sealed record Outcome(string Registers, string Memory, uint Vector, long BulkOperations);

    private static Outcome Run(bool bulk, Action<Assembler> code)
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGdt(Limited >> 3, SegmentedGuest.Descriptor(LimitedBase, (uint)Limit, 0x2, big: true));
        g.SetGate32(13, SegmentedGuest.KernelCode32, Handler);
        Recorders.Handler32(g, Handler, 13, hasErrorCode: true);
        var pattern = new byte[0x4000];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(i * 13 + 5);
        g.Memory.Write(LimitedBase, pattern);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(ax, Limited);
            a.mov(es, ax);
            code(a);
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, SegmentedGuest.KernelStack);
        g.Cpu.BulkStrings.Enabled = bulk;
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        var r = g.Registers;
        var memory = new byte[0x4000];
        g.Memory.Read(LimitedBase, memory);
        return new Outcome($"ecx={r.Rcx:x} esi={r.Rsi:x} edi={r.Rdi:x}", Convert.ToHexString(memory),
            g.ReadU32(Recorders.Vector), g.Cpu.BulkStrings.Operations);
    }

    private static Outcome Agree(Action<Assembler> code)
    {
        Outcome bulk = Run(true, code), slow = Run(false, code);
        Assert.Equal(slow with { BulkOperations = 0 }, bulk with { BulkOperations = 0 });
        Assert.True(bulk.BulkOperations > 0);
        Assert.Equal(13u, bulk.Vector);
        return bulk;
    }

    [Fact]
    public void StosbStopsAtTheLimit()
    {
        Outcome o = Agree(a => { a.mov(edi, 0x800); a.mov(ecx, 0x3000); a.mov(al, 0x5A); a.rep.stosb(); });
        Assert.Equal($"ecx={0x3000 - (Limit + 1 - 0x800):x} esi=0 edi={Limit + 1:x}", o.Registers);
    }

    [Fact]
    public void MovsdStopsAtAnElementStraddlingTheLimit()
    {
        // DS is flat: the source is ES's base seen through DS, so the copy moves bytes within the segment.
        Outcome o = Agree(a =>
        {
            a.mov(esi, (uint)LimitedBase + 0x10);
            a.mov(edi, 0x801);
            a.mov(ecx, 0x1000);
            a.rep.movsd();
        });
        ulong done = (Limit + 1 - 0x801) / 4; // the element at 0x2C7D straddles the limit
        Assert.Equal($"ecx={0x1000 - done:x} esi={LimitedBase + 0x10 + done * 4:x} edi={0x801 + done * 4:x}", o.Registers);
    }

    [Fact]
    public void DownwardStoswWrapsBelowZeroIntoTheLimit()
    {
        Outcome o = Agree(a => { a.std(); a.mov(edi, 0x2C70); a.mov(ecx, 0x3000); a.mov(ax, 0x1234); a.rep.stosw(); });
        Assert.Equal($"ecx={0x3000 - (0x2C70 / 2 + 1):x} esi=0 edi=fffffffe", o.Registers);
    }
}
