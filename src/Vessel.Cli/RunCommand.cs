using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Vessel.Boot;
using Vessel.Cli.Console;
using Vessel.Cli.Logging;
using Vessel.Cli.Options;
using Vessel.Hypervisor;
using Vessel.Virtio.Block;
using Vessel.Vmm;

namespace Vessel.Cli;

/// <summary>`vessel run`: builds the machine, makes COM1 the console, runs the guest to its end and returns
/// the exit status. Throws <see cref="CliException"/> for anything the user should fix.</summary>
public sealed partial class RunCommand(RunOptions options, CliStreams streams, CliHost host)
{
    /// <summary>Called on the running thread once the vCPUs run (the management API takes the machine here).</summary>
    public Action<Machine>? Started { get; init; }

    public int Execute()
    {
        using var logging = new StderrLoggerProvider(streams.Error, options.LogLevel);
        var logger = logging.CreateLogger("vessel");

        using BootFiles files = ReadBootFiles();
        using var serialFile = OpenSerialFile();
        // With hvc0 on the terminal, COM1 (early boot, a shell on ttyS0) may still write to it: two writers.
        Stream terminal = options.ConsoleOnHvc0 ? Stream.Synchronized(streams.Output) : streams.Output;
        Stream? serialOutput = options.Serial.Kind switch
        {
            SerialKind.Stdio => terminal,
            SerialKind.File => serialFile,
            _ => null,
        };

        using IHypervisor hypervisor = host.CreateBackend(options.Backend, options.EmuTier, logger);
        if (options.Cpus > hypervisor.Capabilities.MaxVcpus)
            throw CliException.Usage($"--cpus {options.Cpus}: the {hypervisor.Name} backend supports at most {hypervisor.Capabilities.MaxVcpus}");

        var config = new MachineConfig
        {
            MemoryBytes = options.MemoryBytes,
            VcpuCount = options.Cpus,
            Kernel = files.Kernel.Memory,
            Initrd = files.Initrd?.Memory,
            CommandLine = options.CommandLine,
            KernelName = files.KernelPath,
            SerialOutput = serialOutput,
            Disks = [.. options.Disks.Select(d => new VirtioBlockOptions(d.Path, d.ReadOnly, d.Id) { RateLimit = d.RateLimit })],
            Networks = options.Networks,
            Vsock = options.Vsock,
            VirtioRng = options.Rng,
            VirtioRngRateLimit = options.RngRateLimit,
            VirtioConsole = options.ConsoleOnHvc0,
            VirtioConsoleOutput = options.ConsoleOnHvc0 ? terminal : null,
            LoggerFactory = logging,
        };
        using Machine machine = BuildMachine(hypervisor, config, files.KernelPath);
        // Copied into guest RAM: their pages leave the process now rather than at its end.
        files.Dispose();
        // Only once the memory is mapped: had it failed, the error says more than this warning.
        if (HostMemory.TotalBytes() is { } hostBytes && options.MemoryBytes > hostBytes)
            LogMoreThanTheHost(logger, SizeParser.Format(options.MemoryBytes), HostMemory.Describe(hostBytes));
        MachineExit exit = RunOnConsole(machine, logger);
        Report(exit, logger);
        return exit.Status;
    }


    /// <summary>The kernel and initrd, read into images of their own that are unmapped once the machine is built.</summary>
    private sealed record BootFiles(string KernelPath, FileImage Kernel, FileImage? Initrd) : IDisposable
    {
        public void Dispose()
        {
            Kernel.Dispose();
            Initrd?.Dispose();
        }
    }

    private BootFiles ReadBootFiles()
    {
        // Explicit files first: a typo in --initrd must not wait behind a build of the default guest.
        string? kernelPath = options.KernelPath, initrdPath = options.InitrdPath;
        FileImage? kernel = null, initrd = null;
        try
        {
            kernel = kernelPath is null ? null : ReadKernel("--kernel", kernelPath);
            initrd = initrdPath is null ? null : InputFile.ReadImage("--initrd", initrdPath);
            CheckDisks();
            if (kernelPath is null)
            {
                var guest = host.ResolveDefaultGuest(streams.Error);
                kernelPath = guest.Kernel;
                kernel = ReadKernel("default guest kernel", kernelPath);
                if (initrdPath is null) initrd = InputFile.ReadImage("default guest initrd", guest.Initrd);
            }
            return new BootFiles(kernelPath, kernel!, initrd);
        }
        catch
        {
            kernel?.Dispose();
            initrd?.Dispose();
            throw;
        }
    }

    /// <summary>Opens and closes every --disk image, so a missing or unopenable one is reported before the default
    /// guest is built (the machine opens them again).</summary>
    private void CheckDisks()
    {
        try
        {
            foreach (var disk in options.Disks)
                DiskImage.Open(disk.Path, disk.ReadOnly).Dispose();
        }
        catch (DiskImageException ex)
        {
            throw CliException.Runtime(ex.Message);
        }
    }
    private static Machine BuildMachine(IHypervisor hypervisor, MachineConfig config, string kernelPath)
    {
        try
        {
            return new MachineBuilder(hypervisor, config).Build();
        }
        catch (Exception ex) when (BootErrors.IsBootImageError(ex))
        {
            throw CliException.Runtime($"{kernelPath}: {ex.Message}");
        }
        catch (DiskImageException ex)
        {
            throw CliException.Runtime(ex.Message);
        }
        catch (Exception ex) when (ex is Vessel.Virtio.Net.Backends.NetBackendException or Vessel.Virtio.Vsock.VsockException)
        {
            throw CliException.Runtime(ex.Message);
        }
        catch (GuestMemoryUnavailableException ex)
        {
            throw CliException.Runtime($"--memory {SizeParser.Format(config.MemoryBytes)}: {ex.Message}");
        }
    }

    private MachineExit RunOnConsole(Machine machine, ILogger logger)
    {
        bool console = options.Serial.Kind == SerialKind.Stdio || options.ConsoleOnHvc0;
        TerminalRawMode? raw = console && host.StdinIsTerminal ? TerminalRawMode.Enter(host.StdinFd) : null;
        EventHandler restoreAtExit = (_, _) => raw?.Dispose();
        AppDomain.CurrentDomain.ProcessExit += restoreAtExit;
        var signals = host.HandleSignals ? RegisterSignals(machine, logger) : [];
        using var stopRegistration = host.Stop.Register(() => machine.RequestStop(MachineExit.Stopped("stopped by the host")));
        ConsoleInputPump? input = null;
        try
        {
            machine.Start();
            Started?.Invoke(machine);
            if (console)
            {
                input = new ConsoleInputPump(streams.Input, decodeEscapes: raw is not null,
                    new MachineConsole(machine, options.ConsoleOnHvc0), streams.Error);
                input.Start();
            }
            return machine.WaitForExit();
        }
        finally
        {
            input?.Stop();
            if (input?.DroppedKeys > 0) LogDroppedKeys(logger, input.DroppedKeys);
            foreach (var signal in signals) signal.Dispose();
            raw?.Dispose();
            AppDomain.CurrentDomain.ProcessExit -= restoreAtExit;
        }
    }

    private static List<PosixSignalRegistration> RegisterSignals(Machine machine, ILogger logger)
    {
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // the main thread stops the VM and restores the terminal
            LogSignal(logger, context.Signal.ToString());
            machine.RequestStop(MachineExit.Stopped($"terminating on signal {context.Signal}"));
        }
        return [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(s => PosixSignalRegistration.Create(s, OnSignal))];
    }

    private void Report(MachineExit exit, ILogger logger)
    {
        switch (exit.Kind)
        {
            case MachineExitKind.Failed:
                streams.Error.Write($"vessel: {exit.Reason}\n");
                streams.Error.Flush();
                break;
            case MachineExitKind.TripleFault:
                LogExitWarning(logger, exit.Reason, exit.Status);
                break;
            default:
                LogExit(logger, exit.Reason, exit.Status);
                break;
        }
    }

    /// <summary>Reads a kernel and refuses a file no loader recognises before any machine is built.</summary>
    private static FileImage ReadKernel(string option, string path)
    {
        FileImage image = InputFile.ReadImage(option, path);
        if (KernelImageFormats.Detect(image.GetSpan()) != KernelImageFormat.Unknown) return image;
        image.Dispose();
        throw CliException.Runtime(image.Length == 0
            ? $"{path}: not a kernel image (the file is empty)"
            : $"{path}: not a kernel image (no bzImage, ELF, multiboot or boot-sector header)");
    }

    private FileStream? OpenSerialFile()
    {
        if (options.Serial.Kind != SerialKind.File) return null;
        if (Directory.Exists(options.Serial.Path))
            throw CliException.Runtime($"{options.Serial.Path}: --serial file: needs a file to write, and this is a directory");
        try
        {
            return new FileStream(options.Serial.Path!, FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.Runtime($"cannot open serial output file {options.Serial.Path}: {ex.Message}");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "--memory {Memory} is more than this host's {Host} of RAM and swap: guest RAM is taken as the guest touches it, and the VM dies if it uses it all")]
    private static partial void LogMoreThanTheHost(ILogger logger, string memory, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} keys typed while the guest was not reading its console were dropped")]
    private static partial void LogDroppedKeys(ILogger logger, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Signal} received; stopping the VM")]
    private static partial void LogSignal(ILogger logger, string signal);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM ended: {Reason} (exit status {Status})")]
    private static partial void LogExit(ILogger logger, string reason, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM ended: {Reason} (exit status {Status})")]
    private static partial void LogExitWarning(ILogger logger, string reason, int status);
}
