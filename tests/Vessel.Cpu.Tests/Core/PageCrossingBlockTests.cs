using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

/// <summary>An instruction that runs into the next page is decoded into a block of its own that is not cached,
/// reusing whatever block object held its cache slot. Its fast form must be the one of the instruction now
/// there, not the one left behind: Linux hit this with a <c>call [rip+x]</c> straddling a page, which ran
/// as the previous occupant's <c>mov</c>.</summary>
public class PageCrossingBlockTests
{
    // Both addresses hash to cache slot 0x7FFE: (p ^ (p >> 15)) & 0x7FFF.
    private const uint FirstBlockAt = 0x7FFE;
    private const uint CrossingAt = 0x17FFC;

    [Theory]
    [InlineData(true, 0)]
    [InlineData(true, 64)]
    [InlineData(false, 0)]
    public void PageCrossingInstructionRunsItselfAfterItsSlotHeldAnotherBlock(bool fastPaths, int jitThreshold)
    {
        using var hypervisor = new EmuHypervisor(new EmuOptions { FastPaths = fastPaths, JitThreshold = jitThreshold });
        using var vm = hypervisor.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(1 << 20);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = vm.CreateVcpu(0);

        // Entry at 0x1000: run the first block (mov eax, ebx; jmp) so it occupies the slot, then jump to the
        // page-crossing ADD.
        vm.Memory.Write(0x1000, TinyGuest.Assemble(32, 0x1000, a =>
        {
            a.mov(ebx, 0x1111);
            a.mov(ecx, 0x100);
            a.jmp(FirstBlockAt);
        }));
        vm.Memory.Write(FirstBlockAt, TinyGuest.Assemble(32, FirstBlockAt, a =>
        {
            a.mov(eax, ebx);
            a.jmp(CrossingAt);
        }));
        vm.Memory.Write(CrossingAt, TinyGuest.Assemble(32, CrossingAt, a =>
        {
            a.add(ecx, 0x12345678); // 81 C1 imm32: six bytes, two of them on the next page
            a.hlt();
        }));
        vcpu.SetSpecialRegisters(new SpecialRegisters
        {
            Cs = Segment.Flat(0x08, code: true), Ds = Segment.Flat(0x10, false), Es = Segment.Flat(0x10, false),
            Ss = Segment.Flat(0x10, false), Fs = Segment.Flat(0x10, false), Gs = Segment.Flat(0x10, false),
            Tr = new Segment { Type = 0xB, Present = true, Limit = 0x67 }, Ldt = new Segment { Type = 2, Present = true },
            Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et,
        });
        vcpu.SetRegisters(new Registers { Rip = 0x1000, Rsp = 0x80000, Rflags = 2 });

        Assert.Equal(VcpuExitReason.Halt, vcpu.Run().Reason);
        Registers r = vcpu.GetRegisters();
        Assert.Equal(0x12345778UL, r.Rcx);
        Assert.Equal(0x1111UL, r.Rax);
    }
}
