using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Cpu;
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
    public static IHypervisor Create(BackendChoice choice, EmuTier tier, ILogger logger) => Create(choice, tier, logger, KvmHostFacts.Current);

    /// <summary>As <see cref="Create(BackendChoice, EmuTier, ILogger)"/> with another kvm device (the CPU flags are the host's).</summary>
    public static IHypervisor Create(BackendChoice choice, EmuTier tier, ILogger logger, string kvmDevice) =>
        Create(choice, tier, logger, KvmHostFacts.Current with { Device = kvmDevice });

    /// <summary>kvm opens the device or fails with its reason; auto follows <see cref="AutoBackend.Decide"/>;
    /// emu never touches the device. <paramref name="tier"/> is the software CPU's, when it runs.</summary>
    public static IHypervisor Create(BackendChoice choice, EmuTier tier, ILogger logger, KvmHostFacts host)
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
                return CreateEmu(tier, logger);
            default:
                return CreateAuto(tier, logger, host);
        }
    }

    private static IHypervisor CreateAuto(EmuTier tier, ILogger logger, KvmHostFacts host)
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
        return CreateEmu(tier, logger);
    }

    /// <summary>The software CPU. The one place that names the emu backend's type. VESSEL_EMU_INTERPRET=1 turns
    /// off fast paths and the block compiler, and VESSEL_EMU_JIT=0 only the compiler: a suspected emulator bug
    /// can be confirmed on a real guest without rebuilding. The compiled tier is --emu-tier's (see EmuOptions.Tier).</summary>
    public static IHypervisor CreateEmu(EmuTier tier, ILogger logger)
    {
        bool interpret = Environment.GetEnvironmentVariable("VESSEL_EMU_INTERPRET") == "1";
        bool noJit = Environment.GetEnvironmentVariable("VESSEL_EMU_JIT") == "0";
        var options = new EmuOptions
        {
            FastPaths = !interpret,
            JitThreshold = interpret || noJit ? 0 : new EmuOptions().JitThreshold,
            Tier = tier,
        };
        LogEmuTier(logger, options.ResolvedTier.ToString());
        return new Vessel.Cpu.EmuHypervisor(options);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "emu tier: {Tier}")]
    private static partial void LogEmuTier(ILogger logger, string tier);

    [LoggerMessage(Level = LogLevel.Information, Message = "using the kvm backend ({Device})")]
    private static partial void LogUsingKvm(ILogger logger, string device);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "using the kvm backend ({Device}); the CPU has no VMX/SVM, so this KVM (kvm_pvm?) emulates much of the guest: expect it to be slow")]
    private static partial void LogUsingSoftwareKvm(ILogger logger, string device);

    [LoggerMessage(Message = "{Message}")]
    private static partial void LogChoice(ILogger logger, LogLevel level, string message);
}
