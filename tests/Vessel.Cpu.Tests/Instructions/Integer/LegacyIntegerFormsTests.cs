using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Instructions.Integer;

/// <summary>The 16-bit forms of the stack, branch and data-movement units that the 64-bit differential suite
/// cannot reach (PUSHA/POPA, LOOP/JCXZ on CX, XLAT through BX, RET imm16), run in real mode and checked against
/// what the architecture defines.</summary>
public class LegacyIntegerFormsTests
{
    private const ushort CodeAddress = 0x1000, Results = 0x3000;

    private static (TinyGuest Guest, Registers Regs) RunRealMode(Action<Assembler> build, Action<TinyGuest>? setup = null)
    {
        var g = new TinyGuest();
        g.Load(CodeAddress, TinyGuest.Assemble(16, CodeAddress, a =>
        {
            a.cli();
            build(a);
            a.hlt();
        }));
        setup?.Invoke(g);
        g.StartRealMode(CodeAddress);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        return (g, g.Vcpu.GetRegisters());
    }

    [Fact]
    public void PushaStoresTheRegistersInOrderAndPopaSkipsTheStackPointerSlot()
    {
        var (g, r) = RunRealMode(a =>
        {
            a.mov(ax, 1); a.mov(cx, 2); a.mov(dx, 3); a.mov(bx, 4);
            a.mov(bp, 6); a.mov(si, 7); a.mov(di, 8);
            a.pusha();
            a.mov(__word_ptr[0x6FF6], 0x1234); // the saved SP: POPA must not load it
            a.xor(ax, ax); a.xor(cx, cx); a.xor(dx, dx); a.xor(bx, bx);
            a.xor(bp, bp); a.xor(si, si); a.xor(di, di);
            a.popa();
        });
        using (g)
        {
            ushort[] expected = [8, 7, 6, 0x1234, 4, 3, 2, 1]; // DI SI BP SP BX DX CX AX, lowest address first
            for (int i = 0; i < expected.Length; i++)
                Assert.Equal(expected[i], g.Memory.ReadUInt16(0x6FF0 + (ulong)(2 * i)));
            Assert.Equal((1UL, 2UL, 3UL, 4UL), (r.Rax, r.Rcx, r.Rdx, r.Rbx));
            Assert.Equal((6UL, 7UL, 8UL), (r.Rbp, r.Rsi, r.Rdi));
            Assert.Equal(0x7000UL, r.Rsp);
        }
    }

    [Fact]
    public void EnterWithNestingCopiesTheOuterFramePointersAndLeaveUnwinds()
    {
        var (g, r) = RunRealMode(a =>
        {
            a.mov(bp, 0x6F00);
            a.enter(8, 2);
            a.mov(__word_ptr[Results], sp);
            a.mov(__word_ptr[Results + 2], bp);
            a.leave();
        }, g => g.Memory.WriteUInt16(0x6EFE, 0xBEEF));
        using (g)
        {
            // Pushed: the old BP at 6FFE, the outer frame's pointer read from [BP-2] at 6FFC, the new frame at 6FFA;
            // then 8 bytes allocated.
            Assert.Equal(0x6F00, g.Memory.ReadUInt16(0x6FFE));
            Assert.Equal(0xBEEF, g.Memory.ReadUInt16(0x6FFC));
            Assert.Equal(0x6FFE, g.Memory.ReadUInt16(0x6FFA));
            Assert.Equal(0x6FF2, g.Memory.ReadUInt16(Results));
            Assert.Equal(0x6FFE, g.Memory.ReadUInt16(Results + 2));
            Assert.Equal((0x7000UL, 0x6F00UL), (r.Rsp, r.Rbp));
        }
    }

    [Fact]
    public void LoopFormsCountCxAndLoopneStopsOnZf()
    {
        var (g, r) = RunRealMode(a =>
        {
            var counted = a.CreateLabel();
            var searched = a.CreateLabel();
            var skipped = a.CreateLabel();
            a.mov(ecx, 0x12340005); // only CX counts in 16-bit code: the upper half stays
            a.xor(ax, ax);
            a.Label(ref counted);
            a.inc(ax);
            a.loop(counted);
            a.mov(__dword_ptr[Results], ecx);
            a.mov(cx, 10);
            a.xor(si, si);
            a.Label(ref searched);
            a.inc(si);
            a.cmp(si, 3);
            a.loopne(searched);
            a.mov(__word_ptr[Results + 4], cx);
            a.xor(cx, cx);
            a.mov(dx, 1);
            a.jcxz(skipped);
            a.mov(dx, 2);
            a.Label(ref skipped);
        });
        using (g)
        {
            Assert.Equal(5UL, r.Rax);
            Assert.Equal(0x12340000u, g.Memory.ReadUInt32(Results));
            Assert.Equal(3UL, r.Rsi);
            Assert.Equal(7, g.Memory.ReadUInt16(Results + 4));
            Assert.Equal(1UL, r.Rdx);
        }
    }

    [Fact]
    public void XlatIndexesByAlFromBxAndNearRetReleasesItsImmediate()
    {
        var (g, r) = RunRealMode(a =>
        {
            var function = a.CreateLabel();
            var after = a.CreateLabel();
            a.mov(bx, 0x2000);
            a.mov(ax, 0xAB07);
            a.xlatb();
            a.push(0x1111);
            a.push(0x2222);
            a.call(function);
            a.jmp(after);
            a.Label(ref function);
            a.ret(4);
            a.Label(ref after);
        }, g => g.Memory.Write(0x2000, Enumerable.Range(0, 16).Select(i => (byte)(i * 3)).ToArray()));
        using (g)
        {
            Assert.Equal(0xAB15UL, r.Rax); // AL = table[7] = 21, AH kept
            Assert.Equal(0x7000UL, r.Rsp); // RET 4 dropped the two words pushed before the CALL
        }
    }
}
