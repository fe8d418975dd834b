using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Hypervisor;
using Vessel.Kvm;

namespace Vessel.Cli;

/// <summary>Picks and creates the execution backend for --backend.</summary>
public static partial class Backends
{
    public const string KvmDevice = KvmHypervisor.DefaultDevice;

    public static IHypervisor Create(BackendChoice choice, ILogger logger) => Create(choice, logger, KvmDevice);

    /// <summary>kvm opens <paramref name="kvmDevice"/> or fails with its reason; auto uses kvm when it opens and
    /// otherwise says why and falls back to emu.</summary>
    public static IHypervisor Create(BackendChoice choice, ILogger logger, string kvmDevice)
    {
        switch (choice)
        {
            case BackendChoice.Kvm:
                try
                {
                    var kvm = KvmHypervisor.Open(kvmDevice);
                    LogUsingKvm(logger, kvmDevice);
                    return kvm;
                }
                catch (KvmUnavailableException ex)
                {
                    throw CliException.Runtime($"--backend kvm: {ex.Message}");
                }
            case BackendChoice.Emu:
                return CreateEmu();
            default:
                try
                {
                    var kvm = KvmHypervisor.Open(kvmDevice);
                    LogUsingKvm(logger, kvmDevice);
                    return kvm;
                }
                catch (KvmUnavailableException ex) when (ex.DeviceMissing)
                {
                    LogNoKvm(logger, kvmDevice);
                }
                catch (KvmUnavailableException ex)
                {
                    LogKvmRefused(logger, ex.Message);
                }
                return CreateEmu();
        }
    }

    /// <summary>The software CPU. The one place that names the emu backend's type. VESSEL_EMU_INTERPRET=1 turns
    /// off fast paths and the block compiler, and VESSEL_EMU_JIT=0 only the compiler: a suspected emulator bug
    /// can be confirmed on a real guest without rebuilding.</summary>
    public static IHypervisor CreateEmu()
    {
        bool interpret = Environment.GetEnvironmentVariable("VESSEL_EMU_INTERPRET") == "1";
        bool noJit = Environment.GetEnvironmentVariable("VESSEL_EMU_JIT") == "0";
        var options = new Vessel.Cpu.EmuOptions
        {
            FastPaths = !interpret,
            JitThreshold = interpret || noJit ? 0 : new Vessel.Cpu.EmuOptions().JitThreshold,
        };
        return new Vessel.Cpu.EmuHypervisor(options);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "using the kvm backend ({Device})")]
    private static partial void LogUsingKvm(ILogger logger, string device);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Device} does not exist; using the emu backend")]
    private static partial void LogNoKvm(ILogger logger, string device);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}; using the emu backend")]
    private static partial void LogKvmRefused(ILogger logger, string reason);
}
