using System.Diagnostics;
using Iced.Intel;
using Vessel.Bench;
using Vessel.Cpu;
using Vessel.Hypervisor;

string mode = args.Length > 0 ? args[0] : "cpu";
int rounds = args.Length > 1 ? int.Parse(args[1]) : 20;
if (mode == "image")
{
    File.WriteAllBytes(args[2], MultibootCrcImage.Build(rounds));
    Console.WriteLine($"wrote {args[2]}; expected output {CrcGuest.Expected(rounds):x8}");
    return 0;
}
if (mode == "ports")
    return PortExitBench.Run(rounds, args.Length > 2 ? int.Parse(args[2]) : 3);
if (mode == "events")
    return EventPathBench.Run(rounds, args.Length > 2 ? int.Parse(args[2]) : 3); // events COUNT REPEATS
if (mode == "translate")
{
    // translate BLOCKS RUNS [ELF]: the native translator alone, over blocks cut from an ELF's .text.
    return TranslateBench.Run(args.Length > 3 ? args[3] : "/usr/lib/x86_64-linux-gnu/libc.so.6", rounds, args.Length > 2 ? int.Parse(args[2]) : 5);
}
if (mode == "fpu")
    return FpuBench.Run(rounds, args.Length > 2 ? int.Parse(args[2]) : 3);
if (mode == "compare")
{
    // compare ROUNDS REPEATS [TIERS]: TIERS a comma list of automatic, interpreter, native (default automatic).
    var tiers = (args.Length > 3 ? args[3] : "automatic").Split(',').Select(t => Enum.Parse<EmuTier>(t, ignoreCase: true)).ToList();
    return QemuComparison.Run(rounds, args.Length > 2 ? int.Parse(args[2]) : 3, tiers);
}
if (mode == "strings")
{
    // strings ROUNDS REPEATS [TIERS]: the REP STOS/MOVS image against QEMU TCG.
    var tiers = (args.Length > 3 ? args[3] : "automatic").Split(',').Select(t => Enum.Parse<EmuTier>(t, ignoreCase: true)).ToList();
    return StringsGuest.Compare(rounds, args.Length > 2 ? int.Parse(args[2]) : 3, tiers);
}
if (mode == "boot")
{
    // boot ROUNDS [TIER]
    var tier = args.Length > 2 ? Enum.Parse<EmuTier>(args[2], ignoreCase: true) : EmuTier.Automatic;
    var r = InProcessBoot.Run(MultibootCrcImage.Build(rounds), tier: tier);
    Console.WriteLine($"output {r.Output.Trim()} (expected {CrcGuest.Expected(rounds):x8}), status {r.ExitStatus}{(r.Error is null ? "" : ", " + r.Error)}");
    Console.WriteLine($"{r.Instructions:N0} instructions in {r.Elapsed.TotalSeconds:F3} s = {r.Instructions / r.Elapsed.TotalSeconds / 1e6:F1} M instructions/s");
    return 0;
}
return InProcess32(rounds);

static int InProcess32(int rounds)
{
    using var hv = new EmuHypervisor();
    using var vm = hv.CreateVirtualMachine();
    using var ram = new GuestMemoryRegion(16 << 20);
    vm.SetMemoryRegion(0, 0, ram);
    using var vcpu = (EmuVcpu)vm.CreateVcpu(0);

    var asm = new Assembler(32);
    CrcGuest.EmitWorkload(asm, rounds, is64: false);
    asm.hlt();
    vm.Memory.Write(0x100000, GuestCode.Assemble(asm, 0x100000));

    var sregs = FlatSegments.ProtectedMode32();
    vcpu.SetSpecialRegisters(sregs);
    vcpu.SetRegisters(new Registers { Rip = 0x100000, Rflags = 2, Rsp = 0x80000 });
    var sw = Stopwatch.StartNew();
    VcpuExit exit = vcpu.Run();
    sw.Stop();
    uint result = (uint)vcpu.GetRegisters().Rax;
    Console.WriteLine($"exit {exit}, crc 0x{result:x8} (expected 0x{CrcGuest.Expected(rounds):x8})");
    Console.WriteLine($"{vcpu.InstructionsRetired:N0} instructions in {sw.Elapsed.TotalSeconds:F3} s = {vcpu.InstructionsRetired / sw.Elapsed.TotalSeconds / 1e6:F1} M instructions/s");
    return 0;
}
