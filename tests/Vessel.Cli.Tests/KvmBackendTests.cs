namespace Vessel.Cli.Tests;

/// <summary>The tiny guests of every CPU mode through the whole stack with --backend kvm, on this machine's
/// /dev/kvm (skipped where it does not open). On a software KVM (kvm_pvm) every exit costs ~10 µs and real-mode
/// code is emulated, so the guests stay a handful of instructions.</summary>
[Trait("Category", "KvmHost")]
public class KvmBackendTests
{
    [KvmFact]
    public void RealModeBootSectorPrintsAndExits()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "kvm", "--memory", "16M");
        Assert.Equal("", result.Stderr);
        Assert.Equal("hi", result.Stdout);
        Assert.Equal(3, result.ExitCode);
    }

    [KvmFact]
    public void ProtectedModeElfPrintsAndExits() => RunElf(32, "protected\n", 5);

    [KvmFact]
    public void LongModeElfPrintsAndExits() => RunElf(64, "long mode\n", 9);

    private static void RunElf(int bitness, string text, byte value)
    {
        using var kernel = CliRunner.File(TinyElf.PrintThenExit(bitness, text, value));
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "kvm", "--memory", "16M");
        Assert.Equal("", result.Stderr);
        Assert.Equal(text, result.Stdout);
        Assert.Equal((value << 1) | 1, result.ExitCode);
    }

    /// <summary>The in-kernel PIT and 8259 wake a real-mode HLT through the BIOS-like vector 08h, as on emu.</summary>
    [KvmFact]
    public async Task RealModeHaltIsWokenByTheInKernelTimer()
    {
        using var kernel = CliRunner.File(BootSectors.TimerWakesHalt());
        var run = Task.Run(() => CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "kvm", "--memory", "16M"));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) == run, "the halted guest was never woken");
        CliResult result = await run;
        Assert.Equal("", result.Stderr);
        Assert.Equal("T", result.Stdout);
        Assert.Equal(3, result.ExitCode);
    }

    [KvmFact]
    public void ForcedKvmSaysWhichKvmItIs()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        foreach (bool hardware in new[] { true, false })
        {
            var facts = new KvmHostFacts(Vessel.Kvm.KvmHypervisor.DefaultDevice, () => hardware);
            var host = new CliHost { HandleSignals = false, CreateBackend = (choice, tier, logger) => Backends.Create(choice, tier, logger, facts) };
            var result = CliRunner.Run(["run", "--kernel", kernel.Path, "--backend", "kvm", "--log-level", "info"], stdin: [], host);
            Assert.Equal(3, result.ExitCode);
            string first = result.StderrLines[0];
            Assert.StartsWith("vessel: info: using the kvm backend (/dev/kvm)", first);
            Assert.Equal(!hardware, first.Contains("the CPU has no VMX/SVM", StringComparison.Ordinal));
        }
    }

    /// <summary>64 TiB maps (lazily) but is beyond what KVM takes in one memory slot: one line, and the VM and
    /// /dev/kvm descriptors are closed again every time.</summary>
    [KvmFact]
    public void MemoryKvmRefusesIsAOneLineErrorAndLeaksNoDescriptor()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        for (int i = 0; i < 20; i++)
        {
            var line = RunBeyondTheMemoryCap(kernel.Path, 64UL << 40);
            Assert.StartsWith("vessel: --memory 65536G: KVM refused ", line);
            Assert.EndsWith("(KVM takes less than 8 TiB in one memory slot)", line);
        }
        Assert.Equal(0, KvmDescriptors());
    }

    [KvmFact]
    public void MemoryTheHostCannotMapOnKvmLeaksNoDescriptor()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("vessel: --memory 204800G: the host cannot map 209712128 MiB of guest memory (mmap errno 12)",
                RunBeyondTheMemoryCap(kernel.Path, 200UL << 40));
        }
        Assert.Equal(0, KvmDescriptors());
    }

    /// <summary>The command line refuses these sizes (more than a guest addresses), so the backend's own failures
    /// are reached with options built directly; returns the one error line as the CLI prints it.</summary>
    private static string RunBeyondTheMemoryCap(string kernel, ulong memoryBytes)
    {
        var options = new Options.RunOptions(kernel, null, "", memoryBytes, 1, Options.BackendChoice.Kvm,
            Options.SerialTarget.None, Microsoft.Extensions.Logging.LogLevel.Warning);
        var streams = new CliStreams(new MemoryStream(), new MemoryStream(), new MemoryStream());
        var error = Assert.Throws<CliException>(() => new RunCommand(options, streams, new CliHost { HandleSignals = false }).Execute());
        Assert.Equal(CliException.RuntimeExitCode, error.ExitCode);
        return $"vessel: {error.Message}";
    }

    /// <summary>Open descriptors of /dev/kvm and of KVM's VM and vCPU files (anon_inode:kvm-vm, kvm-vcpu:N).</summary>
    private static int KvmDescriptors() => Directory.GetFiles("/proc/self/fd").Count(fd =>
    {
        try
        {
            return new FileInfo(fd).LinkTarget is { } t && (t == "/dev/kvm" || t.StartsWith("anon_inode:kvm-", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    });
}
