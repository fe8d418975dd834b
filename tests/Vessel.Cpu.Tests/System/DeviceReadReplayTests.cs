using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>Instructions that take more than one value from the VMM (both operands of CMPS or MOVS in MMIO)
/// exit for each and re-execute with the values already given: they must finish, each value landing where
/// its address says, and a later instruction must never see a value meant for an earlier one. Instructions
/// that make several device writes (a store across a page, a 16-byte store) deliver every one, in order.</summary>
public class DeviceReadReplayTests
{
    private const ulong MmioLinear = 0x40_0000_0000, MmioPhysical = 0xF000_0000;

    /// <summary>What the fake device reads back: a function of the address, so a value replayed for the
    /// wrong address shows.</summary>
    private static ulong DeviceByte(ulong address) => (address * 7 + 3) & 0xFF;

    private static (Registers Regs, int Reads, PageTableGuest Guest) RunWithDevice(Action<Assembler> build) =>
        RunWithDevice(build, new List<(ulong, int, ulong)>());

    private static (Registers Regs, int Reads, PageTableGuest Guest) RunWithDevice(Action<Assembler> build, List<(ulong Address, int Size, ulong Data)> writes)
    {
        var g = new PageTableGuest();
        g.IdentityMapLarge(8 << 20, P | W);
        g.Map(MmioLinear, MmioPhysical, P | W, 0x20_0000);
        g.Start64(0x1000, 0x1000, build);
        int reads = 0;
        for (int i = 0; i < 10_000; i++)
        {
            VcpuExit exit = g.Vcpu.Run();
            switch (exit.Reason)
            {
                case VcpuExitReason.MmioRead:
                    reads++;
                    ulong v = 0;
                    for (int b = exit.Size - 1; b >= 0; b--) v = (v << 8) | DeviceByte(exit.Address + (ulong)b);
                    g.Vcpu.CompleteRead(v);
                    break;
                case VcpuExitReason.MmioWrite:
                    writes.Add((exit.Address, exit.Size, exit.Data));
                    break;
                case VcpuExitReason.Halt:
                    return (g.Vcpu.GetRegisters(), reads, g);
                default:
                    throw new InvalidOperationException($"unexpected exit {exit.Reason}");
            }
        }
        throw new TimeoutException("the guest did not halt: an instruction re-executes for ever");
    }

    [Fact]
    public void RepeCmpsbBetweenTwoMmioBuffersRunsItsWholeCount()
    {
        // DeviceByte differs between the two buffers at every offset unless their addresses are congruent
        // mod 256: 0x100 apart makes them equal, so REPE CMPSB runs the whole count.
        var (r, reads, g) = RunWithDevice(a =>
        {
            a.mov(rsi, unchecked((long)MmioLinear));
            a.mov(rdi, unchecked((long)(MmioLinear + 0x100)));
            a.mov(ecx, 30);
            a.repe.cmpsb();
            a.setne(bl);
            a.hlt();
        });
        using (g)
        {
            Assert.Equal(0UL, r.Rcx);
            Assert.Equal(MmioLinear + 30, r.Rsi);
            Assert.Equal(0UL, r.Rbx & 0xFF);
            Assert.Equal(60, reads); // two reads per iteration, none repeated
        }
    }

    [Fact]
    public void CmpsbWithDifferentBytesStopsAtOnce()
    {
        var (r, _, g) = RunWithDevice(a =>
        {
            a.mov(rsi, unchecked((long)MmioLinear));
            a.mov(rdi, unchecked((long)(MmioLinear + 1)));
            a.mov(ecx, 30);
            a.repe.cmpsb();
            a.hlt();
        });
        using (g)
        {
            Assert.Equal(29UL, r.Rcx);
            Assert.Equal(MmioLinear + 1, r.Rsi);
        }
    }

    [Fact]
    public void MovsbFromMmioToRamCopiesEachByteOnceAndALoopOfReadsGetsFreshValues()
    {
        var (r, _, g) = RunWithDevice(a =>
        {
            Label loop = a.CreateLabel();
            a.mov(rsi, unchecked((long)(MmioLinear + 5)));
            a.mov(rdi, 0x20_0000);
            a.mov(ecx, 16);
            a.rep.movsb();
            // The same instruction at the same RIP reads another address each time round.
            a.mov(rsi, unchecked((long)(MmioLinear + 0x40)));
            a.xor(ebx, ebx);
            a.mov(ecx, 4);
            a.Label(ref loop);
            a.movzx(eax, __byte_ptr[rsi]);
            a.add(ebx, eax);
            a.inc(rsi);
            a.dec(ecx);
            a.jne(loop);
            a.hlt();
        });
        using (g)
        {
            for (ulong i = 0; i < 16; i++)
                Assert.Equal((byte)DeviceByte(MmioPhysical + 5 + i), g.Memory.ReadByte(0x20_0000 + i));
            ulong sum = 0;
            for (ulong i = 0; i < 4; i++) sum += DeviceByte(MmioPhysical + 0x40 + i);
            Assert.Equal(sum, r.Rbx);
        }
    }

    [Fact]
    public void StoresAcrossAPageAndSixteenByteStoresToMmioDeliverEveryWrite()
    {
        var writes = new List<(ulong Address, int Size, ulong Data)>();
        var (_, _, g) = RunWithDevice(a =>
        {
            a.mov(rax, cr4);
            a.or(rax, 0x600);                               // OSFXSR, OSXMMEXCPT: SSE on
            a.mov(cr4, rax);
            a.mov(rdi, unchecked((long)(MmioLinear + 0xFFE)));
            a.mov(eax, 0x4433_2211);
            a.mov(__dword_ptr[rdi], eax);                  // 2 bytes in one page, 2 in the next
            a.mov(rax, 0x1122_3344_5566_7788);
            a.mov(rdx, unchecked((long)0x99AA_BBCC_DDEE_FF00));
            a.movq(xmm0, rax);
            a.pinsrq(xmm0, rdx, 1);
            a.mov(rdi, unchecked((long)(MmioLinear + 0x100)));
            a.movdqu(__xmmword_ptr[rdi], xmm0);           // 16 bytes
            a.hlt();
        }, writes);
        using (g)
        {
            ulong Byte(ulong address) => writes.Where(w => w.Address <= address && address < w.Address + (ulong)w.Size)
                .Select(w => (w.Data >> (int)(8 * (address - w.Address))) & 0xFF).Last();
            Assert.Equal(0x11UL, Byte(MmioPhysical + 0xFFE));
            Assert.Equal(0x22UL, Byte(MmioPhysical + 0xFFF));
            Assert.Equal(0x33UL, Byte(MmioPhysical + 0x1000));
            Assert.Equal(0x44UL, Byte(MmioPhysical + 0x1001));
            ulong low = 0, high = 0;
            for (int i = 7; i >= 0; i--)
            {
                low = (low << 8) | Byte(MmioPhysical + 0x100 + (ulong)i);
                high = (high << 8) | Byte(MmioPhysical + 0x108 + (ulong)i);
            }
            Assert.Equal(0x1122_3344_5566_7788UL, low);
            Assert.Equal(0x99AA_BBCC_DDEE_FF00UL, high);
        }
    }
}
