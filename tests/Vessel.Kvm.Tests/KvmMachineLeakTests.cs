using Iced.Intel;
using Vessel.Cli.Tests;
using Vessel.Vmm;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Kvm.Tests;

[CollectionDefinition(nameof(KvmResourceMeasurements), DisableParallelization = true)]
public sealed class KvmResourceMeasurements;

/// <summary>The foundation's lifecycle/leak test (Vessel.Vmm.Tests' MachineLeakTests) on /dev/kvm: many whole
/// machines built, run and disposed, each a KVM VM with its vCPU fd, kvm_run mapping, in-kernel irqchip and PIT,
/// guest RAM touched by the guest and the VMM; afterwards no KVM descriptor, kvm_run mapping or vCPU thread is
/// left and descriptors and resident memory are at their baseline. Runs alone: other tests would move the numbers.</summary>
[Collection(nameof(KvmResourceMeasurements))]
[Trait("Category", "KvmHost")]
public sealed class KvmMachineLeakTests
{
    private const ulong GuestBytes = 32UL << 20;
    private const int GuestTouchedPages = 1024; // by the guest itself, from 2 MiB up: KVM maps them
    private const int Machines = 100;

    [KvmFact]
    public void AHundredKvmVmsLeaveFdsMappingsThreadsAndMemoryAtBaseline()
    {
        byte[] kernel = TouchPagesThenExit();
        long peakDuringRun = 0;
        for (int i = 0; i < 10; i++) peakDuringRun = RunOneMachine(kernel); // warm-up: JIT tiers, the kick signal handler, pools
        Collect();
        var baseline = Snapshot();
        Assert.True(peakDuringRun > baseline.Rss + (long)GuestBytes * 3 / 4,
            $"touching guest RAM should raise RSS: peak {peakDuringRun >> 20} MiB, baseline {baseline.Rss >> 20} MiB");

        for (int i = 0; i < Machines; i++) RunOneMachine(kernel);

        Collect();
        var after = Snapshot();
        // What KVM objects leave behind is named: /dev/kvm and anon_inode:kvm-vm / kvm-vcpu:N descriptors,
        // kvm-vcpu mappings (kvm_run), "vCPU n" threads. Those must be back at zero; totals only roughly, since
        // the runtime maps JIT code and opens files of its own meanwhile.
        Assert.Equal((0, 0, 0), (after.KvmFds, after.KvmMappings, after.VcpuThreads));
        Assert.Equal((0, 0, 0), (baseline.KvmFds, baseline.KvmMappings, baseline.VcpuThreads));
        Assert.InRange(after.Fds, 0, baseline.Fds + 2);
        Assert.True(after.Rss < baseline.Rss + (24L << 20),
            $"RSS after {Machines} VMs is {after.Rss >> 20} MiB, baseline {baseline.Rss >> 20} MiB");
    }

    /// <summary>Builds the machine on a fresh /dev/kvm fd, fills its RAM from the VMM side, runs the guest
    /// (which touches pages itself, prints "x" and exits through isa-debug-exit) and disposes everything.
    /// Returns the RSS measured while the guest RAM was touched.</summary>
    private static long RunOneMachine(byte[] kernel)
    {
        var serial = new MemoryStream();
        using var kvm = KvmHypervisor.Open();
        using var machine = new MachineBuilder(kvm, new MachineConfig
        {
            MemoryBytes = GuestBytes, Kernel = kernel, SerialOutput = serial,
        }).Build();
        machine.Memory.Fill(16UL << 20, (int)(GuestBytes - (16UL << 20)), 0xAA);
        machine.Memory.Fill(4UL << 20, 12 << 20, 0x55);
        long peak = ResidentBytes();
        machine.Start();
        var exit = machine.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal(MachineExit.GuestExit(1), exit);
        Assert.Equal("x", System.Text.Encoding.ASCII.GetString(serial.ToArray()));
        return peak;
    }

    /// <summary>A 64-bit guest that writes one byte to each of <see cref="GuestTouchedPages"/> pages from 2 MiB,
    /// prints "x" on COM1 and writes 0 to isa-debug-exit.</summary>
    private static byte[] TouchPagesThenExit()
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.mov(rdi, 0x200000);
        a.mov(ecx, GuestTouchedPages);
        a.Label(ref loop);
        a.mov(__byte_ptr[rdi], 1);
        a.add(rdi, 4096);
        a.dec(ecx);
        a.jnz(loop);
        a.mov(dx, (ushort)0x3f8);
        a.mov(al, (byte)'x');
        a.@out(dx, al);
        a.mov(dx, (ushort)0xf4);
        a.mov(al, 0);
        a.@out(dx, al);
        a.hlt();
        return TinyElf.FromAssembler(a);
    }

    private readonly record struct Resources(int Fds, int KvmFds, int KvmMappings, int VcpuThreads, long Rss);

    private static Resources Snapshot()
    {
        var fds = Directory.GetFiles("/proc/self/fd");
        int kvmFds = fds.Count(fd => TryReadLink(fd) is { } target && (target == "/dev/kvm" || IsKvmObject(target)));
        int kvmMappings = File.ReadAllLines("/proc/self/maps").Count(IsKvmObject);
        int vcpuThreads = Directory.GetDirectories("/proc/self/task")
            .Count(task => (TryReadText(Path.Combine(task, "comm")) ?? "").StartsWith("vCPU", StringComparison.Ordinal));
        return new(fds.Length, kvmFds, kvmMappings, vcpuThreads, ResidentBytes());
    }

    /// <summary>KVM's VM and vCPU files are anonymous inodes named kvm-vm and kvm-vcpu:N.</summary>
    private static bool IsKvmObject(string text) => text.Contains("anon_inode:kvm-", StringComparison.Ordinal);

    private static string? TryReadLink(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; } // closed meanwhile
    }

    private static string? TryReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; } // the thread ended meanwhile
    }

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException("no VmRSS in /proc/self/status");
    }

    private static void Collect()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }
}
