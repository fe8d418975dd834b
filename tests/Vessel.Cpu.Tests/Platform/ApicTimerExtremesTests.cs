using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Platform;

/// <summary>Local APIC timers programmed with the largest values a guest can write: they must count down for as
/// long as the real chip would (minutes), not wrap into an immediate interrupt.</summary>
[Trait("Category", "Hostile")]
public class ApicTimerExtremesTests
{
    private const ushort Code = 0x1000;
    private const int IrrOfVector40 = 0x200 + (0x40 / 32) * 0x10; // IRR word holding vector 0x40 (bit 0)

    private static TinyGuest Start(Action<Iced.Intel.Assembler> body)
    {
        var g = new TinyGuest();
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            var spin = a.CreateLabel();
            a.cli();
            a.mov(__dword_ptr.fs[0xF0], 0x1FF);  // software enable
            body(a);
            a.mov(ecx, 20_000);                  // give a wrongly armed timer time to fire
            a.Label(ref spin);
            a.pause();
            a.dec(ecx);
            a.jnz(spin);
            a.mov(ebx, __dword_ptr.fs[IrrOfVector40]);
            a.hlt();
        }));
        g.StartRealMode(Code);
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        s.Fs.Base = 0xFEE0_0000;
        g.Vcpu.SetSpecialRegisters(s);
        return g;
    }

    [Fact]
    public void A_one_shot_of_the_largest_count_and_divider_counts_down_instead_of_firing()
    {
        using var g = Start(a =>
        {
            a.mov(__dword_ptr.fs[0x3E0], 0xA);          // divide by 128
            a.mov(__dword_ptr.fs[0x320], 0x40);         // one-shot, vector 0x40
            a.mov(__dword_ptr.fs[0x380], 0xFFFF_FFFF);  // 2^32 x 128 ns: about 550 s
            a.mov(esi, __dword_ptr.fs[0x390]);          // current count right after
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.True(r.Rsi > 0xF000_0000, $"current count 0x{r.Rsi:x} right after loading 0xffffffff"); // 34 s of slack at 128 ns a tick
        Assert.Equal(0UL, r.Rbx & 1);                   // vector 0x40 not requested
    }

    [Fact]
    public void A_one_shot_of_ten_seconds_still_reports_its_remaining_count()
    {
        using var g = Start(a =>
        {
            a.mov(__dword_ptr.fs[0x3E0], 0xB);          // divide by 1
            a.mov(__dword_ptr.fs[0x320], 0x40);
            a.mov(__dword_ptr.fs[0x380], 0xFFFF_FFFF);  // 4.3 s at 1 GHz
            a.mov(__dword_ptr.fs[0x3E0], 0x3);          // divide by 16: restarts it, 68 s
            a.mov(esi, __dword_ptr.fs[0x390]);
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.True(r.Rsi > 0xF000_0000, $"current count 0x{r.Rsi:x}");
        Assert.Equal(0UL, r.Rbx & 1);
    }

    [Theory]
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL)]
    [InlineData(0x8000_0000_0000_0000UL)]
    [InlineData(0x7FFF_FFFF_FFFF_FFFFUL)]
    public void A_tsc_deadline_far_in_the_future_does_not_fire(ulong deadline)
    {
        using var g = Start(a =>
        {
            a.mov(__dword_ptr.fs[0x320], 0x40040);      // TSC-deadline mode, vector 0x40
            a.mov(ecx, 0x6E0);
            a.mov(eax, (uint)deadline);
            a.mov(edx, (uint)(deadline >> 32));
            a.wrmsr();
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0UL, g.Vcpu.GetRegisters().Rbx & 1);
    }

    [Fact]
    public void A_tsc_deadline_in_the_past_fires()
    {
        using var g = Start(a =>
        {
            a.mov(__dword_ptr.fs[0x320], 0x40040);
            a.mov(ecx, 0x6E0);
            a.mov(eax, 1);
            a.xor(edx, edx);
            a.wrmsr();
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(1UL, g.Vcpu.GetRegisters().Rbx & 1);
    }
}
