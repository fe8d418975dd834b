using System.Diagnostics;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>`fpu` mode: an in-process guest loop of SSE, MMX and x87 instructions with register and memory
/// operands, for comparing the interpreter's x87/SIMD path between two builds (no peer runs it: QEMU's TCG
/// helpers are another design, and the CRC image does not reach this path). Prints the median of the runs.</summary>
internal static class FpuBench
{
    private const uint CodeAddress = 0x100000, DataAddress = 0x200000;

    public static int Run(int rounds, int runs)
    {
        var rates = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            (double rate, long instructions, double seconds) = RunOnce(rounds);
            Console.WriteLine($"run {i + 1}: {instructions:N0} instructions in {seconds:F3} s = {rate:F1} M instructions/s");
            rates.Add(rate);
        }
        rates.Sort();
        Console.WriteLine($"x87/SSE/MMX loop, {rounds} rounds, median of {runs}: {rates[rates.Count / 2]:F1} M guest instructions/s");
        return 0;
    }

    private static (double Rate, long Instructions, double Seconds) RunOnce(int rounds)
    {
        using var hv = new EmuHypervisor();
        using var vm = hv.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(16 << 20);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = (EmuVcpu)vm.CreateVcpu(0);

        var asm = new Assembler(32);
        EmitLoop(asm, rounds);
        vm.Memory.Write(CodeAddress, GuestCode.Assemble(asm, CodeAddress));
        var data = new byte[128];
        for (int i = 0; i < 8; i++) BitConverter.TryWriteBytes(data.AsSpan(i * 8), 1.0 + i / 8.0);
        vm.Memory.Write(DataAddress, data);

        var sregs = FlatSegments.ProtectedMode32();
        sregs.Cr0 |= ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ne;
        sregs.Cr4 |= ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
        vcpu.SetSpecialRegisters(sregs);
        vcpu.SetRegisters(new Registers { Rip = CodeAddress, Rflags = 2, Rsp = 0x80000 });
        var sw = Stopwatch.StartNew();
        VcpuExit exit = vcpu.Run();
        sw.Stop();
        if (exit.Reason != VcpuExitReason.Halt) throw new InvalidOperationException($"the loop ended with {exit}");
        double seconds = sw.Elapsed.TotalSeconds;
        return (vcpu.InstructionsRetired / seconds / 1e6, vcpu.InstructionsRetired, seconds);
    }

    private static void EmitLoop(Assembler a, int rounds)
    {
        var loop = a.CreateLabel();
        a.mov(esi, DataAddress);
        a.mov(ecx, (uint)rounds);
        a.fninit();
        a.Label(ref loop);
        a.movups(xmm0, __xmmword_ptr[esi]);
        a.addpd(xmm0, __xmmword_ptr[esi + 16]);
        a.mulpd(xmm0, xmm0);
        a.movups(__xmmword_ptr[esi + 96], xmm0);
        a.paddd(xmm2, __xmmword_ptr[esi + 32]);
        a.pshufd(xmm3, xmm2, 0x1B);
        a.pxor(xmm3, xmm2);
        a.movq(mm0, __qword_ptr[esi + 48]);
        a.paddw(mm0, mm1);
        a.emms();
        a.fld(__qword_ptr[esi + 48]);
        a.fmul(__qword_ptr[esi + 56]);
        a.fstp(__qword_ptr[esi + 112]);
        a.dec(ecx);
        a.jnz(loop);
        a.hlt();
    }
}
