using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Hypervisor;
using Vessel.Kvm;

namespace Vessel.Cli;

/// <summary>The facts about the host that the backend choice reads; tests pass their own.</summary>
public sealed record KvmHostFacts(string Device, Func<bool> CpuHasVirtualization)
{
    public static KvmHostFacts Current { get; } = new(KvmHypervisor.DefaultDevice, HostCpu.HasHardwareVirtualization);
}

/// <summary>Picks and creates the execution backend for --backend.</summary>
public static partial class Backends
{
    public static IHypervisor Create(BackendChoice choice, ILogger logger) => Create(choice, logger, KvmHostFacts.Current);

    /// <summary>As <see cref="Create(BackendChoice, ILogger)"/> with another kvm device (the CPU flags are the host's).</summary>
    public static IHypervisor Create(BackendChoice choice, ILogger logger, string kvmDevice) =>
        Create(choice, logger, KvmHostFacts.Current with { Device = kvmDevice });

    /// <summary>kvm opens the device or fails with its reason; auto follows <see cref="AutoBackend.Decide"/>;
    /// emu never touches the device.</summary>
    public static IHypervisor Create(BackendChoice choice, ILogger logger, KvmHostFacts host)
    {
        switch (choice)
        {
            case BackendChoice.Kvm:
                try
                {
                    var kvm = KvmHypervisor.Open(host.Device);
                    if (host.CpuHasVirtualization()) LogUsingKvm(logger, host.Device);
                    else LogUsingSoftwareKvm(logger, host.Device);
                    return kvm;
                }
                catch (KvmUnavailableException ex)
                {
                    throw CliException.Runtime($"--backend kvm: {ex.Message}");
                }
            case BackendChoice.Emu:
                return CreateEmu();
            default:
                return CreateAuto(logger, host);
        }
    }

    private static IHypervisor CreateAuto(ILogger logger, KvmHostFacts host)
    {
        KvmHypervisor? kvm = null;
        KvmProbe probe;
        string? refusal = null;
        try
        {
            kvm = KvmHypervisor.Open(host.Device);
            probe = KvmProbe.Opens;
        }
        catch (KvmUnavailableException ex)
        {
            probe = ex.DeviceMissing ? KvmProbe.Missing : KvmProbe.Refused;
            refusal = ex.Message;
        }
        var decision = AutoBackend.Decide(host.Device, probe, refusal, host.CpuHasVirtualization());
        LogChoice(logger, decision.Level, decision.Message);
        if (decision.UseKvm) return kvm!;
        kvm?.Dispose();
        return CreateEmu();
    }

    /// <summary>The software CPU. The one place that names the emu backend's type. VESSEL_EMU_INTERPRET=1 turns
    /// off fast paths and the block compiler, and VESSEL_EMU_JIT=0 only the compiler: a suspected emulator bug
    /// can be confirmed on a real guest without rebuilding. VESSEL_EMU_TIER=il|native|interp picks the compiled
    /// tier (default: native; see EmuOptions.Tier).</summary>
    public static IHypervisor CreateEmu()
    {
        bool interpret = Environment.GetEnvironmentVariable("VESSEL_EMU_INTERPRET") == "1";
        bool noJit = Environment.GetEnvironmentVariable("VESSEL_EMU_JIT") == "0";
        var options = new Vessel.Cpu.EmuOptions
        {
            FastPaths = !interpret,
            JitThreshold = interpret || noJit ? 0 : new Vessel.Cpu.EmuOptions().JitThreshold,
            Tier = ParseTier(Environment.GetEnvironmentVariable("VESSEL_EMU_TIER")),
        };
        return new Vessel.Cpu.EmuHypervisor(options);
    }

    /// <summary>The tier VESSEL_EMU_TIER names: interp, il or native; anything else (or nothing) is automatic.</summary>
    public static Vessel.Cpu.EmuTier ParseTier(string? name) => name?.ToLowerInvariant() switch
    {
        "interp" or "interpreter" => Vessel.Cpu.EmuTier.Interpreter,
        "il" => Vessel.Cpu.EmuTier.IL,
        "native" => Vessel.Cpu.EmuTier.Native,
        _ => Vessel.Cpu.EmuTier.Automatic,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "using the kvm backend ({Device})")]
    private static partial void LogUsingKvm(ILogger logger, string device);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "using the kvm backend ({Device}); the CPU has no VMX/SVM, so this KVM (kvm_pvm?) emulates much of the guest: expect it to be slow")]
    private static partial void LogUsingSoftwareKvm(ILogger logger, string device);

    [LoggerMessage(Message = "{Message}")]
    private static partial void LogChoice(ILogger logger, LogLevel level, string message);
}
