namespace Vessel.Cli.Tests;

/// <summary>Every user error is one line "vessel: ..." on stderr with exit code 2 (usage) or 1 (runtime),
/// never a stack trace, and nothing on stdout.</summary>
public class UserErrorTests
{
    private static readonly byte[] Kernel = BootSectors.HiThenExit3();

    private static void AssertOneLineError(CliResult result, int exitCode, string message)
    {
        Assert.Equal(exitCode, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: ", line);
        Assert.Contains(message, line);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    private static CliResult RunWithKernel(params string[] extra)
    {
        using var kernel = CliRunner.File(Kernel);
        return CliRunner.Run(["run", "--kernel", kernel.Path, .. extra]);
    }

    [Fact]
    public void WithoutKernelAnIncompleteDefaultGuestIsAOneLineError()
    {
        string empty = Directory.CreateTempSubdirectory("vessel-guest-").FullName;
        try
        {
            var host = new CliHost { HandleSignals = false, ResolveDefaultGuest = _ => DefaultGuest.InDirectory(empty) };
            AssertOneLineError(CliRunner.Run(["run", "--backend", "emu"], [], host), 1, "default guest");
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public void ACommandIsRequired() =>
        AssertOneLineError(CliRunner.Run(), 2, "vessel: ");

    [Fact]
    public void UnknownOptionIsAUsageError() =>
        AssertOneLineError(CliRunner.Run("run", "--kernel", "k", "--frobnicate"), 2, "--frobnicate");

    [Fact]
    public void MissingKernelFile() =>
        AssertOneLineError(CliRunner.Run("run", "--kernel", "/nonexistent/bzImage", "--backend", "emu"), 1,
            "vessel: /nonexistent/bzImage: no such file (--kernel)");

    [Fact]
    public void MissingInitrdFile() =>
        AssertOneLineError(RunWithKernel("--initrd", "/nonexistent/initrd.gz"), 1, "vessel: /nonexistent/initrd.gz: no such file (--initrd)");

    [Fact]
    public void KernelPathThatIsADirectory() =>
        AssertOneLineError(CliRunner.Run("run", "--kernel", "/tmp"), 1, "vessel: /tmp: --kernel needs a regular file, and this is a directory");

    /// <summary>/dev/zero would be read until memory runs out; it is refused before any byte is read.</summary>
    [Fact]
    public void KernelThatIsADevice() =>
        AssertOneLineError(CliRunner.Run("run", "--kernel", "/dev/zero"), 1, "vessel: /dev/zero: --kernel needs a regular file, and this is a character device");

    /// <summary>Opening a FIFO for reading blocks until a writer comes: it is refused before the open.</summary>
    [Fact]
    public void InitrdThatIsAFifo()
    {
        string fifo = Path.Combine(Path.GetTempPath(), $"vessel-fifo-{Guid.NewGuid():N}");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo])!) mkfifo.WaitForExit();
        try
        {
            AssertOneLineError(RunWithKernel("--initrd", fifo), 1, $"vessel: {fifo}: --initrd needs a regular file, and this is a FIFO");
        }
        finally
        {
            File.Delete(fifo);
        }
    }

    /// <summary>Explicit files are checked before the default guest is looked for (or built).</summary>
    [Fact]
    public void AnExplicitInitrdIsCheckedBeforeTheDefaultGuestIsBuilt()
    {
        var host = new CliHost { HandleSignals = false, ResolveDefaultGuest = _ => throw new InvalidOperationException("built the default guest") };
        AssertOneLineError(CliRunner.Run(["run", "--initrd", "/nonexistent/initrd.gz"], [], host), 1,
            "vessel: /nonexistent/initrd.gz: no such file (--initrd)");
    }

    [Fact]
    public void AnExplicitDiskIsCheckedBeforeTheDefaultGuestIsBuilt()
    {
        var host = new CliHost { HandleSignals = false, ResolveDefaultGuest = _ => throw new InvalidOperationException("built the default guest") };
        AssertOneLineError(CliRunner.Run(["run", "--disk", "/nonexistent/disk.img"], [], host), 1,
            "vessel: disk image /nonexistent/disk.img does not exist");
    }

    [Fact]
    public void AFileThatIsNoKernelIsNamed()
    {
        using var text = CliRunner.File("# Vessel\n\nA README, not a kernel.\n"u8.ToArray());
        AssertOneLineError(CliRunner.Run("run", "--kernel", text.Path, "--backend", "emu"), 1,
            $"vessel: {text.Path}: not a kernel image (no bzImage, ELF, multiboot or boot-sector header)");
    }

    [Fact]
    public void UnknownCommandListsTheCommands() =>
        AssertOneLineError(CliRunner.Run("frob"), 2, "vessel: unknown command 'frob' (commands: run)");

    [Fact]
    public void UnknownImageFormat()
    {
        using var kernel = CliRunner.File(new byte[8192]);
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: ", line);
        Assert.DoesNotContain("Exception", line);
    }

    [Theory]
    [InlineData("512K")]
    [InlineData("1000B")]
    [InlineData("0")]
    public void MemoryTooSmall(string memory) =>
        AssertOneLineError(RunWithKernel("--memory", memory), 2, $"vessel: --memory {memory} is too small: the guest needs at least 1M");

    [Theory]
    [InlineData("lots")]
    [InlineData("1.5G")]
    [InlineData("-1M")]
    [InlineData("12X")]
    public void MemoryNotASize(string memory) =>
        AssertOneLineError(RunWithKernel("--memory", memory), 2, $"vessel: --memory '{memory}' is not a size");

    [Theory]
    [InlineData("0")]
    [InlineData("255")]
    [InlineData("99999999999")]
    public void CpusOutOfRange(string cpus) =>
        AssertOneLineError(RunWithKernel("--cpus", cpus), 2, $"vessel: --cpus {cpus} is out of range (1 to 254)");

    /// <summary>The CLI's maximum is exactly the MP table's: the most it takes is a table Vessel.Boot can write.</summary>
    [Fact]
    public void CpusMaximumIsTheMpTables()
    {
        using var region = new Vessel.Hypervisor.GuestMemoryRegion(1 << 20);
        var memory = new Vessel.Hypervisor.GuestMemory();
        memory.Map(0, 0, region);
        Vessel.Boot.MpTable.Write(memory, Options.RunOptions.MaxCpus, 0x9_0000);
        Assert.ThrowsAny<ArgumentException>(() => Vessel.Boot.MpTable.Write(memory, Options.RunOptions.MaxCpus + 1, 0x9_0000));
        Assert.Equal(254, Options.RunOptions.ParseCpus("254"));
    }

    [Theory]
    [InlineData("two")]
    [InlineData("-1")]
    [InlineData("")]
    public void CpusNotANumber(string cpus) =>
        AssertOneLineError(RunWithKernel("--cpus", cpus), 2, $"vessel: --cpus '{cpus}' is not a number");

    [Fact]
    public void CpusBeyondTheBackend() =>
        AssertOneLineError(RunWithKernel("--cpus", "200", "--backend", "emu"), 2, "vessel: --cpus 200: the emu backend supports at most");

    /// <summary>Sizes past what a guest addresses (40 physical address bits), including ones that overflow 64
    /// bits once counted in MiB, are one usage line each, never an internal error.</summary>
    [Theory]
    [InlineData("8T")]
    [InlineData("200T")]
    [InlineData("18446744073709551615")]
    [InlineData("99999999999999999999")]
    [InlineData("99999999999T")]
    public void MemoryBeyondWhatAGuestAddresses(string memory) =>
        AssertOneLineError(RunWithKernel("--memory", memory, "--backend", "emu"), 2,
            $"vessel: --memory {memory} is more than a guest can address (at most 1023G)");

    [Fact]
    public void ABareMemoryNumberIsMiB()
    {
        var result = RunWithKernel("--memory", "64", "--backend", "emu", "--log-level", "debug");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("64 MiB", result.Stderr);
    }

    [Fact]
    public void MemoryBeyondTheHostIsAWarningOnly()
    {
        ulong host = HostMemory.TotalBytes()!.Value;
        string memory = $"{(host >> 30) + 2}G";
        var result = RunWithKernel("--memory", memory, "--backend", "emu");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hi", result.Stdout);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith($"vessel: warning: --memory {memory} is more than this host's ", line);
    }

    [Theory]
    [InlineData("MemTotal:       24683520 kB\nMemFree:        24151224 kB\nSwapTotal:       1048576 kB\n", 25732096UL * 1024)]
    [InlineData("MemTotal:       1000 kB\n", 1024000UL)]
    [InlineData("nothing here\n", null)]
    public void HostMemoryIsRamPlusSwap(string meminfo, ulong? bytes) =>
        Assert.Equal(bytes, HostMemory.TotalBytes(meminfo));

    [Fact]
    public void UnknownBackend() =>
        AssertOneLineError(RunWithKernel("--backend", "xen"), 2, "vessel: --backend 'xen' is not one of auto, kvm, emu");

    private static CliResult RunWithKvmDevice(string device, params string[] extra)
    {
        using var kernel = CliRunner.File(Kernel);
        var host = new CliHost { HandleSignals = false, CreateBackend = (choice, tier, logger) => Backends.Create(choice, tier, logger, device) };
        return CliRunner.Run(["run", "--kernel", kernel.Path, .. extra], stdin: [], host);
    }

    [Fact]
    public void KvmBackendWithoutTheDevice() =>
        AssertOneLineError(RunWithKvmDevice("/nonexistent/kvm", "--backend", "kvm"), 1,
            "vessel: --backend kvm: /nonexistent/kvm does not exist (no KVM on this machine)");

    [Fact]
    public void KvmBackendOnADeviceThatIsNotKvm() =>
        AssertOneLineError(RunWithKvmDevice("/dev/null", "--backend", "kvm"), 1,
            "vessel: --backend kvm: /dev/null is not a KVM device: KVM_GET_API_VERSION failed: ");

    [Theory]
    [InlineData("tcp:localhost:4444")]
    [InlineData("file")]
    public void UnknownSerialTarget(string serial) =>
        AssertOneLineError(RunWithKernel("--serial", serial), 2, $"vessel: --serial '{serial}' is not one of stdio, file:PATH, none");

    [Fact]
    public void SerialFileWithoutPath() =>
        AssertOneLineError(RunWithKernel("--serial", "file:"), 2, "vessel: --serial file: needs a path");

    [Fact]
    public void SerialFileThatIsADirectory() =>
        AssertOneLineError(RunWithKernel("--serial", "file:/tmp"), 1, "vessel: /tmp: --serial file: needs a file to write, and this is a directory");

    [Fact]
    public void SerialFileThatCannotBeCreated() =>
        AssertOneLineError(RunWithKernel("--serial", "file:/nonexistent/dir/out.txt"), 1, "vessel: cannot open serial output file /nonexistent/dir/out.txt");

    [Fact]
    public void UnknownLogLevel() =>
        AssertOneLineError(RunWithKernel("--log-level", "loud"), 2, "vessel: --log-level 'loud' is not one of error, warn, info, debug, trace");

    [Fact]
    public void MissingOptionValue() =>
        AssertOneLineError(CliRunner.Run("run", "--kernel"), 2, "vessel: ");
}
