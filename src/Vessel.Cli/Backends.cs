using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Hypervisor;

namespace Vessel.Cli;

/// <summary>Picks and creates the execution backend for --backend.</summary>
public static partial class Backends
{
    public const string KvmDevice = "/dev/kvm";

    public static IHypervisor Create(BackendChoice choice, ILogger logger)
    {
        switch (choice)
        {
            case BackendChoice.Kvm:
                throw CliException.Runtime("kvm backend is not available yet (use --backend emu)");
            case BackendChoice.Emu:
                return CreateEmu();
            default:
                if (KvmDeviceOpens()) LogKvmNotYet(logger);
                else LogNoKvm(logger);
                return CreateEmu();
        }
    }

    /// <summary>The software CPU. The one place that names the emu backend's type.</summary>
    public static IHypervisor CreateEmu() => new Vessel.Cpu.EmuHypervisor();

    private static bool KvmDeviceOpens()
    {
        try
        {
            using var kvm = new FileStream(KvmDevice, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "/dev/kvm is present but the kvm backend is not available yet; using the emu backend")]
    private static partial void LogKvmNotYet(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "/dev/kvm cannot be opened; using the emu backend")]
    private static partial void LogNoKvm(ILogger logger);
}
