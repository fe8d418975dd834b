using System.CommandLine;
using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;

namespace Vessel.Cli;

/// <summary>The `vessel` command line, runnable in-process: arguments and standard streams in, exit code out.
/// User errors are one line "vessel: ..." on stderr: exit code 2 for usage errors, 1 for runtime failures;
/// otherwise the exit code is the VM's exit status.</summary>
public static class VesselCli
{
    /// <summary>No response files: System.CommandLine would read the file named by any "@..." argument, so
    /// `@/` threw out of the parser and `@/dev/zero` read until memory ran out (found by fuzz/Vessel.Fuzz).</summary>
    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    public static int Run(IReadOnlyList<string> args, Stream stdin, Stream stdout, Stream stderr, CliHost? host = null)
    {
        var streams = new CliStreams(stdin, stdout, stderr);
        host ??= new CliHost();
        try
        {
            RootCommand root = CreateRootCommand(options => new RunCommand(options, streams, host).Execute(),
                (socket, config, backend, tier, logLevel) => new Api.ApiCommand(socket, config, backend, logLevel, streams, host) { EmuTier = tier }.Execute());
            string commands = string.Join(", ", root.Subcommands.Select(c => c.Name));
            if (args.Count == 0)
                return Fail(streams, NoCommandGiven, CliException.UsageExitCode);
            if (!args[0].StartsWith('-') && !root.Subcommands.Any(c => c.Name == args[0]))
                return Fail(streams, $"unknown command '{args[0]}' (commands: {commands})", CliException.UsageExitCode);
            ParseResult parsed = root.Parse(args, Parsing);
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

    /// <summary>Parses a command line into `run`'s options without running anything (the fuzz harness's entry):
    /// null for a command line that runs nothing (help, version); a <see cref="CliException"/> for a usage error.</summary>
    public static RunOptions? ParseRun(IReadOnlyList<string> args)
    {
        RunOptions? parsedOptions = null;
        ParseResult parsed = CreateRootCommand(options => { parsedOptions = options; return 0; }, (_, _, _, _, _) => 0).Parse(args, Parsing);
        if (parsed.Errors.Count > 0)
            throw CliException.Usage(parsed.Errors[0].Message);
        parsed.Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = TextWriter.Null, EnableDefaultExceptionHandler = false });
        return parsedOptions;
    }

    private const string NoCommandGiven =
        "no command given (vessel run, vessel --api-sock PATH or vessel --config-file FILE --no-api; vessel --help for more)";

    private static int Fail(CliStreams streams, string message, int exitCode)
    {
        streams.Error.Write($"vessel: {message}\n");
        return exitCode;
    }

    /// <summary>What the root command runs without a subcommand: the API server and/or a configuration file
    /// (Firecracker's <c>--api-sock</c>, <c>--config-file</c>, <c>--no-api</c>).</summary>
    private delegate int ApiLauncher(string? socket, string? configFile, BackendChoice backend, Vessel.Cpu.EmuTier emuTier, LogLevel logLevel);

    private static RootCommand CreateRootCommand(Func<RunOptions, int> execute, ApiLauncher launchApi)
    {
        var apiSocket = new Option<string?>("--api-sock") { Description = "Serve Firecracker's management API on this Unix socket (the VM starts at InstanceStart)" };
        var configFile = new Option<string?>("--config-file") { Description = "Boot the VM a Firecracker JSON configuration file describes" };
        var noApi = new Option<bool>("--no-api") { Description = "With --config-file: serve no API" };
        var backend = new Option<string>("--backend") { Description = "auto, kvm or emu", DefaultValueFactory = _ => "auto" };
        var emuTier = EmuTierOption.Create();
        var logLevel = new Option<string>("--log-level") { Description = "error, warn, info, debug or trace (to stderr)", DefaultValueFactory = _ => "warn" };
        var root = new RootCommand("Vessel: a virtual machine monitor (KVM or a software x86-64 CPU)")
        {
            CreateRunCommand(execute), apiSocket, configFile, noApi, backend, emuTier, logLevel,
        };
        root.SetAction(result =>
        {
            string? socket = result.GetValue(apiSocket), config = result.GetValue(configFile);
            bool withoutApi = result.GetValue(noApi);
            if (socket is null && config is null)
                throw CliException.Usage(withoutApi ? "--no-api needs --config-file FILE" : NoCommandGiven);
            if (socket is not null && withoutApi)
                throw CliException.Usage("--api-sock and --no-api contradict each other");
            if (socket is null && !withoutApi)
                throw CliException.Usage("--config-file without --api-sock needs --no-api (as Firecracker)");
            return launchApi(socket, config, RunOptions.ParseBackend(result.GetRequiredValue(backend)),
                EmuTierOption.Resolve(result.GetValue(emuTier)), RunOptions.ParseLogLevel(result.GetRequiredValue(logLevel)));
        });
        return root;
    }

    private static Command CreateRunCommand(Func<RunOptions, int> execute)
    {
        var kernel = new Option<string?>("--kernel") { Description = "Kernel image to boot (bzImage, ELF/PVH, multiboot, boot sector); default: the Debian guest built by scripts/build-guest.sh" };
        var initrd = new Option<string?>("--initrd") { Description = "Initial ramdisk" };
        var append = new Option<string?>("--append") { Description = "Kernel command line" };
        var memory = new Option<string>("--memory", "-m") { Description = "Guest RAM: 512M, 1G, 2048K, or a number of MiB", DefaultValueFactory = _ => "512M" };
        var cpus = new Option<string>("--cpus") { Description = "Number of vCPUs", DefaultValueFactory = _ => "1" };
        var backend = new Option<string>("--backend") { Description = "auto, kvm or emu", DefaultValueFactory = _ => "auto" };
        var emuTier = EmuTierOption.Create();
        var serial = new Option<string>("--serial") { Description = "COM1: stdio, file:PATH or none", DefaultValueFactory = _ => "stdio" };
        var disk = new Option<string[]>("--disk") { Description = "A raw disk image as a virtio-blk disk: PATH[,readonly][,id=NAME] (repeatable: vda, vdb, ...)" };
        var net = NetOption.Create();
        var vsock = VsockOption.Create();
        var console = new Option<string>("--console") { Description = "What the terminal is: ttyS0 (COM1) or hvc0 (a virtio console; boot with console=hvc0)", DefaultValueFactory = _ => "ttyS0" };
        var rng = new Option<bool>("--rng") { Description = "A virtio-rng device (the guest's /dev/hwrng)" };
        var logLevel = new Option<string>("--log-level") { Description = "error, warn, info, debug or trace (to stderr)", DefaultValueFactory = _ => "warn" };

        var run = new Command("run", "Boot a kernel; COM1 is the console (Ctrl-A x quits)")
        {
            kernel, initrd, append, memory, cpus, backend, emuTier, serial, disk, console, rng, net, vsock, logLevel,
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
                    EmuTier = EmuTierOption.Resolve(result.GetValue(emuTier)),
                };
            return execute(options);
        });
        return run;
    }
}
