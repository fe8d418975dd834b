using System.CommandLine;
using Vessel.Cli.Options;

namespace Vessel.Cli;

/// <summary>The `vessel` command line, runnable in-process: arguments and standard streams in, exit code out.
/// User errors are one line "vessel: ..." on stderr: exit code 2 for usage errors, 1 for runtime failures;
/// otherwise the exit code is the VM's exit status.</summary>
public static class VesselCli
{
    public static int Run(IReadOnlyList<string> args, Stream stdin, Stream stdout, Stream stderr, CliHost? host = null)
    {
        var streams = new CliStreams(stdin, stdout, stderr);
        host ??= new CliHost();
        try
        {
            ParseResult parsed = CreateRootCommand(streams, host).Parse(args);
            if (parsed.Errors.Count > 0)
                return Fail(streams, parsed.Errors[0].Message, CliException.UsageExitCode);
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = streams.OutputText,
                Error = streams.Error,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            });
        }
        catch (CliException ex)
        {
            return Fail(streams, ex.Message, ex.ExitCode);
        }
        catch (Exception ex)
        {
            return Fail(streams, $"internal error: {ex.GetType().Name}: {ex.Message}", CliException.RuntimeExitCode);
        }
    }

    private static int Fail(CliStreams streams, string message, int exitCode)
    {
        streams.Error.Write($"vessel: {message}\n");
        return exitCode;
    }

    private static RootCommand CreateRootCommand(CliStreams streams, CliHost host) =>
        new("Vessel: a virtual machine monitor (KVM or a software x86-64 CPU)") { CreateRunCommand(streams, host) };

    private static Command CreateRunCommand(CliStreams streams, CliHost host)
    {
        var kernel = new Option<string?>("--kernel") { Description = "Kernel image to boot (bzImage, ELF/PVH, multiboot, boot sector); default: the Debian guest built by scripts/build-guest.sh" };
        var initrd = new Option<string?>("--initrd") { Description = "Initial ramdisk" };
        var append = new Option<string?>("--append") { Description = "Kernel command line" };
        var memory = new Option<string>("--memory", "-m") { Description = "Guest RAM: 512M, 1G, 2048K or bytes", DefaultValueFactory = _ => "512M" };
        var cpus = new Option<string>("--cpus") { Description = "Number of vCPUs", DefaultValueFactory = _ => "1" };
        var backend = new Option<string>("--backend") { Description = "auto, kvm or emu", DefaultValueFactory = _ => "auto" };
        var serial = new Option<string>("--serial") { Description = "COM1: stdio, file:PATH or none", DefaultValueFactory = _ => "stdio" };
        var disk = new Option<string[]>("--disk") { Description = "A raw disk image as a virtio-blk disk: PATH[,readonly][,id=NAME] (repeatable: vda, vdb, ...)" };
        var net = NetOption.Create();
        var vsock = VsockOption.Create();
        var console = new Option<string>("--console") { Description = "What the terminal is: ttyS0 (COM1) or hvc0 (a virtio console; boot with console=hvc0)", DefaultValueFactory = _ => "ttyS0" };
        var rng = new Option<bool>("--rng") { Description = "A virtio-rng device (the guest's /dev/hwrng)" };
        var logLevel = new Option<string>("--log-level") { Description = "error, warn, info, debug or trace (to stderr)", DefaultValueFactory = _ => "warn" };

        var run = new Command("run", "Boot a kernel; COM1 is the console (Ctrl-A x quits)")
        {
            kernel, initrd, append, memory, cpus, backend, serial, disk, console, rng, net, vsock, logLevel,
        };
        run.SetAction(result =>
        {
            var options = RunOptions.FromText(
                result.GetValue(kernel), result.GetValue(initrd), result.GetValue(append),
                result.GetRequiredValue(memory), result.GetRequiredValue(cpus), result.GetRequiredValue(backend),
                result.GetRequiredValue(serial), result.GetRequiredValue(logLevel)) with
                {
                    Disks = DiskOption.ParseAll(result.GetValue(disk)),
                    Networks = NetOption.ParseAll(result.GetValue(net)),
                    Vsock = VsockOption.Parse(result.GetValue(vsock)),
                    ConsoleOnHvc0 = RunOptions.ParseConsole(result.GetRequiredValue(console)),
                    Rng = result.GetValue(rng),
                };
            return new RunCommand(options, streams, host).Execute();
        });
        return run;
    }
}
