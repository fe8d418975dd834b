using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

/// <summary>An instruction that runs into the next page is decoded into a block of its own, reusing the block
/// object its cache set evicts. Its fast form must be the one of the instruction now there, not the one left
/// behind: Linux hit this with a <c>call [rip+x]</c> straddling a page, which ran as the previous occupant's
/// <c>mov</c>.</summary>
public class PageCrossingBlockTests
{
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

        // Entry at 0x1000, then one `mov eax, ebx; jmp` block at each of as many addresses of the crossing
        // instruction's cache set as it has ways: the set is full of movs when the page-crossing ADD is decoded.
        uint[] fillers = AddressesInTheSetOf(CrossingAt, RunLoop.BlockCacheWays);
        vm.Memory.Write(0x1000, TinyGuest.Assemble(32, 0x1000, a =>
        {
            a.mov(ebx, 0x1111);
            a.mov(ecx, 0x100);
            a.jmp(fillers[0]);
        }));
        for (int i = 0; i < fillers.Length; i++)
        {
            uint next = i + 1 < fillers.Length ? fillers[i + 1] : CrossingAt;
            vm.Memory.Write(fillers[i], TinyGuest.Assemble(32, fillers[i], a =>
            {
                a.mov(eax, ebx);
                a.jmp(next);
            }));
        }
        vm.Memory.Write(CrossingAt, TinyGuest.Assemble(32, CrossingAt, a =>
        {
            a.add(ecx, 0x12345678); // 81 C1 imm32: six bytes, two of them on the next page
            a.hlt();
        }));
        vcpu.SetSpecialRegisters(FlatSegments.ProtectedMode32());
        vcpu.SetRegisters(new Registers { Rip = 0x1000, Rsp = 0x80000, Rflags = 2 });

        Assert.Equal(VcpuExitReason.Halt, vcpu.Run().Reason);
        Registers r = vcpu.GetRegisters();
        Assert.Equal(0x12345778UL, r.Rcx);
        Assert.Equal(0x1111UL, r.Rax);
    }

    /// <summary>Addresses from 0x20000 up whose blocks share <paramref name="address"/>'s cache set, 16 bytes
    /// apart at least and not near a page end, so a short block fits at each.</summary>
    private static uint[] AddressesInTheSetOf(uint address, int count)
    {
        int set = RunLoop.BlockCacheSetOf(address);
        var found = new List<uint>();
        for (uint a = 0x20000; found.Count < count && a < 0xF0000; a++)
        {
            if ((a & 0xFFF) > 0xFF0 || (found.Count > 0 && a - found[^1] < 16)) continue;
            if (RunLoop.BlockCacheSetOf(a) == set) found.Add(a);
        }
        Assert.Equal(count, found.Count);
        return [.. found];
    }
}
