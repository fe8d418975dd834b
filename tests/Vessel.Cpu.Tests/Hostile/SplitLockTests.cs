using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>A LOCKed read-modify-write whose destination crosses a 64-byte cache line must not become a host
/// atomic across that line (a split lock: SIGBUS under split_lock_detect=fatal); it runs under the VM's lock,
/// and gives the same result.</summary>
[Trait("Category", "Hostile")]
public class SplitLockTests
{
    private const ushort Code = 0x1000;
    // Each crosses the 64-byte line boundary above it, except Inside.
    private const ushort Dword = 0x63E, Word = 0x67F, Qword = 0x6BC, Bits = 0x6FE, Inside = 0x740, Flag = 0x800;

    [Fact]
    public void Locked_operations_across_a_cache_line_give_the_right_result_without_a_host_atomic()
    {
        using var g = new TinyGuest();
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(__dword_ptr[Dword], 0x1122_3344);
            a.@lock.add(__dword_ptr[Dword], 0x0101_0101);   // 0x12233445
            a.mov(ecx, 0x10);
            a.@lock.xadd(__dword_ptr[Dword], ecx);          // ecx = 0x12233445, [] = 0x12233455
            a.mov(edi, ecx);
            a.mov(eax, 0x1223_3455);
            a.mov(edx, 0xCAFE_F00D);
            a.@lock.cmpxchg(__dword_ptr[Dword], edx);       // equal: [] = 0xCAFEF00D, ZF set
            a.setz(__byte_ptr[Flag]);
            a.mov(esi, 0x0BAD_BEEF);
            a.xchg(__dword_ptr[Dword], esi);                // implicitly locked: esi = 0xCAFEF00D
            a.mov(__word_ptr[Word], 0x00FF);
            a.@lock.inc(__word_ptr[Word]);                  // 0x0100
            a.mov(__dword_ptr[Qword], 0x5555_6666);
            a.mov(__dword_ptr[Qword + 4], 0x7777_8888);
            a.mov(eax, 0x5555_6666);
            a.mov(edx, 0x7777_8888);
            a.mov(ebx, 0x1234_5678);
            a.mov(ecx, 0x9ABC_DEF0);
            a.@lock.cmpxchg8b(__qword_ptr[Qword]);          // equal: [] = 0x9ABCDEF0_12345678
            a.mov(__dword_ptr[Bits], 0);
            a.@lock.bts(__dword_ptr[Bits], 17);             // bit 1 of the byte at Bits + 2, past the line
            a.mov(__dword_ptr[Inside], 1);
            a.@lock.add(__dword_ptr[Inside], 0x77);         // within one line: the host compare-and-swap
            a.hlt();
        }));
        g.StartRealMode(Code);
        long before = g.Cpu.SplitLockFallbacks;

        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);

        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0x1223_3445UL, r.Rdi & 0xFFFF_FFFF);
        Assert.Equal(1, g.Memory.ReadByte(Flag));
        Assert.Equal(0xCAFE_F00DUL, r.Rsi & 0xFFFF_FFFF);
        Assert.Equal(0x0BAD_BEEFu, g.Memory.ReadUInt32(Dword));
        Assert.Equal((ushort)0x0100, (ushort)(g.Memory.ReadByte(Word) | g.Memory.ReadByte(Word + 1) << 8));
        Assert.Equal(0x9ABC_DEF0_1234_5678UL, g.Memory.ReadUInt64(Qword));
        Assert.Equal(0x0002_0000u, g.Memory.ReadUInt32(Bits));
        Assert.Equal(0x78u, g.Memory.ReadUInt32(Inside));
        Assert.Equal(7, g.Cpu.SplitLockFallbacks - before);
    }
}
