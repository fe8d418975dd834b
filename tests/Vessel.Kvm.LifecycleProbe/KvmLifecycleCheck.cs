using Iced.Intel;
using Vessel.Hypervisor;
using Vessel.Vmm;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Kvm.LifecycleProbe;

/// <summary>What <see cref="KvmLifecycleCheck.Run"/> measured, and every way it fell short (none: it passed).</summary>
public sealed record LifecycleReport(int Machines, ResourceSnapshot Baseline, ResourceSnapshot After, long PeakRss, IReadOnlyList<string> Failures)
{
    public bool Passed => Failures.Count == 0;
}

/// <summary>The foundation's lifecycle/leak test (Vessel.Vmm.Tests' MachineLeakTests) on /dev/kvm: many whole
/// machines built, run and disposed, each a KVM VM with its vCPU fd, kvm_run mapping, in-kernel irqchip and PIT,
/// guest RAM touched by the guest and by the VMM. Afterwards no KVM descriptor, kvm_run mapping or vCPU thread may
/// be left, nor after machines refused for too many vCPUs or too much memory, and descriptors and resident memory must be back near their baseline. Nothing else may run in the
/// process meanwhile: it would move the numbers.</summary>
public static class KvmLifecycleCheck
{
    public const ulong GuestBytes = 32UL << 20;
    private const int GuestTouchedPages = 1024; // by the guest itself, from 2 MiB up: KVM maps them
    private const int WarmUpMachines = 10; // JIT tiers, the kick signal handler, pools
    public const int RefusedMachines = 10; // of each kind
    private const int AllowedExtraFds = 2;
    private const long AllowedRssGrowth = 24L << 20;

    public static LifecycleReport Run(int machines)
    {
        byte[] kernel = TouchPagesThenExit();
        var failures = new List<string>();
        long peak = 0;
        for (int i = 0; i < WarmUpMachines; i++) peak = RunOneMachine(kernel);
        RefuseBadMachines(kernel, failures);
        ProcessResources.CollectGarbage();
        var baseline = ResourceSnapshot.Measure();

        for (int i = 0; i < machines; i++) RunOneMachine(kernel);
        for (int i = 0; i < RefusedMachines; i++) RefuseBadMachines(kernel, failures);
        ProcessResources.CollectGarbage();
        var after = ResourceSnapshot.Measure();

        if (peak <= baseline.Rss + (long)GuestBytes * 3 / 4)
            failures.Add($"touching guest RAM did not raise RSS: peak {peak >> 20} MiB, baseline {baseline.Rss >> 20} MiB");
        if (baseline is not { KvmFds: 0, KvmMappings: 0, VcpuThreads: 0 })
            failures.Add($"KVM objects left after the warm-up machines: {baseline}");
        if (after is not { KvmFds: 0, KvmMappings: 0, VcpuThreads: 0 })
            failures.Add($"KVM objects left after {machines} machines: {after}");
        // Totals only roughly: the runtime opens files and maps code of its own meanwhile.
        if (after.Fds > baseline.Fds + AllowedExtraFds)
            failures.Add($"descriptors grew from {baseline.Fds} to {after.Fds}");
        if (after.Rss >= baseline.Rss + AllowedRssGrowth)
            failures.Add($"RSS grew from {baseline.Rss >> 20} MiB to {after.Rss >> 20} MiB");
        return new LifecycleReport(machines, baseline, after, peak, failures);
    }

    /// <summary>Builds the machine on a fresh /dev/kvm fd, fills its RAM from the VMM side, runs the guest (which
    /// touches pages itself, prints "x" and exits through isa-debug-exit) and disposes everything. Returns the RSS
    /// measured while the guest RAM was touched.</summary>
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
        long peak = ProcessResources.ResidentBytes();
        machine.Start();
        var exit = machine.WaitForExit(TimeSpan.FromSeconds(60));
        string output = System.Text.Encoding.ASCII.GetString(serial.ToArray());
        if (exit != MachineExit.GuestExit(1) || output != "x")
            throw new InvalidOperationException($"the guest ended with {exit} after printing \"{output}\", not GuestExit(1) after \"x\"");
        return peak;
    }

    /// <summary>Machines KVM cannot have: more vCPUs than KVM_CAP_MAX_VCPUS (refused before anything is created)
    /// and a RAM slot larger than KVM takes (refused by KVM_SET_USER_MEMORY_REGION after the VM exists). Each must
    /// fail with its clear error; what they had opened is counted by the resource check afterwards.</summary>
    private static void RefuseBadMachines(byte[] kernel, List<string> failures)
    {
        using var kvm = KvmHypervisor.Open();
        int maxVcpus = kvm.Capabilities.MaxVcpus;
        ExpectRefusal<ArgumentOutOfRangeException>(kvm, new MachineConfig { MemoryBytes = 16UL << 20, VcpuCount = maxVcpus + 1, Kernel = kernel },
            $"the kvm backend supports 1 to {maxVcpus} vCPUs", failures);
        ExpectRefusal<GuestMemoryUnavailableException>(kvm, new MachineConfig { MemoryBytes = 9UL << 40, Kernel = kernel },
            "MiB of guest memory", failures); // KVM's refusal, or the host's where it cannot even map it
    }

    private static void ExpectRefusal<TException>(KvmHypervisor kvm, MachineConfig config, string message, List<string> failures)
        where TException : Exception
    {
        try
        {
            new MachineBuilder(kvm, config).Build().Dispose();
            failures.Add($"a machine of {config.VcpuCount} vCPUs and {config.MemoryBytes >> 20} MiB was built; KVM should have refused it");
        }
        catch (TException ex) when (ex.Message.Contains(message, StringComparison.Ordinal))
        {
        }
        catch (Exception ex)
        {
            failures.Add($"a machine of {config.VcpuCount} vCPUs and {config.MemoryBytes >> 20} MiB failed with {ex.GetType().Name}: {ex.Message}, not {typeof(TException).Name} saying \"{message}\"");
        }
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
}
