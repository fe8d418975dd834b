using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Vmm;

namespace Vessel.Cli.Api;

/// <summary>`vessel --api-sock PATH [--config-file FILE]` and `vessel --config-file FILE --no-api`: Firecracker's way
/// in. The VM boots (at InstanceStart or from the file) through <see cref="RunCommand"/>, exactly as `vessel run`
/// with the equivalent flags, with COM1 on stdio unless PUT /serial says otherwise. The process ends with the VM's
/// exit status when the VM ends, or 0 on SIGINT/SIGTERM before a VM was started.</summary>
public sealed class ApiCommand(string? socketPath, string? configFile, BackendChoice backend, LogLevel logLevel, CliStreams streams, CliHost host)
{
    /// <summary>A configuration file larger than this is refused before it is parsed.</summary>
    public const long MaxConfigFileBytes = 1 << 20;

    /// <summary>`--emu-tier` (or VESSEL_EMU_TIER): Firecracker's configuration has no such field.</summary>
    public Vessel.Cpu.EmuTier EmuTier { get; init; }

    private readonly ManualResetEventSlim _ended = new();
    private int _exitStatus;

    public int Execute()
    {
        if (socketPath is null && configFile is null)
            throw CliException.Usage("--no-api needs --config-file FILE");
        var resources = configFile is null ? null : LoadConfigFile(configFile);
        using var metrics = new ApiMetrics();
        var controller = new VmmController(Launch, metrics);
        metrics.MachineSource = () => controller.Machine;
        metrics.NetworkInterfaceIds = () => [.. controller.Resources.NetworkInterfaces.Select(i => i.IfaceId)];
        ApiServer? server = socketPath is null ? null : ApiServer.StartAsync(socketPath, controller).GetAwaiter().GetResult();
        var signals = host.HandleSignals ? RegisterSignals(controller) : [];
        using var stopRegistration = host.Stop.Register(() => { if (controller.Machine is null) End(0); });
        try
        {
            if (resources is not null)
            {
                controller.Configure(resources);
                var started = controller.StartInstance();
                if (started.Status != 204)
                    throw CliException.Runtime($"{configFile}: {JsonSerializer.Deserialize(started.Json!, ApiJson.Default.Fault)!.FaultMessage}");
            }
            _ended.Wait();
            return _exitStatus;
        }
        finally
        {
            foreach (var signal in signals) signal.Dispose();
            controller.Machine?.RequestStop(MachineExit.Stopped("the API server is shutting down"));
            server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Reads and validates a Firecracker configuration file with the API's own rules.</summary>
    public static VmResources LoadConfigFile(string path)
    {
        byte[] bytes = InputFile.Read("--config-file", path, MaxConfigFileBytes);
        try
        {
            var full = JsonSerializer.Deserialize(bytes, ApiJson.Default.FullVmConfiguration)
                ?? throw CliException.Usage($"{path}: --config-file holds null, not a configuration object");
            return VmResources.FromFull(full);
        }
        catch (JsonException ex)
        {
            throw CliException.Usage($"{path}: {JsonErrorText.Describe(ex, bytes, ApiJson.Default.FullVmConfiguration)}");
        }
        catch (CliException ex)
        {
            throw CliException.Usage($"{path}: {ex.Message}");
        }
    }

    /// <summary>InstanceStart: runs the VM on a thread of its own and returns once its vCPUs run, or throws the
    /// <see cref="CliException"/> that refused it (missing file, bad image) with nothing started.</summary>
    private Machine Launch(VmResources resources)
    {
        var options = resources.ToRunOptions(backend, logLevel) with { EmuTier = EmuTier };
        var started = new TaskCompletionSource<Machine>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            int status;
            try
            {
                status = new RunCommand(options, streams, host) { Started = m => started.TrySetResult(m) }.Execute();
            }
            catch (CliException ex)
            {
                status = ex.ExitCode;
                if (!started.TrySetException(ex)) streams.Error.Write($"vessel: {ex.Message}\n");
            }
            catch (Exception ex)
            {
                status = CliException.RuntimeExitCode;
                var error = CliException.Runtime($"internal error: {ex.GetType().Name}: {ex.Message}");
                if (!started.TrySetException(error)) streams.Error.Write($"vessel: {error.Message}\n");
            }
            // The VM ran and ended: the process ends with it, as Firecracker's does.
            if (started.Task.IsCompletedSuccessfully) End(status);
        })
        { Name = "vm", IsBackground = true };
        thread.Start();
        return started.Task.GetAwaiter().GetResult();
    }

    private void End(int status)
    {
        if (_ended.IsSet) return;
        _exitStatus = status;
        _ended.Set();
    }

    private List<PosixSignalRegistration> RegisterSignals(VmmController controller)
    {
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            // With a VM running, RunCommand's own handlers stop it and its end ends us.
            if (controller.Machine is null) End(0);
        }
        return [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(s => PosixSignalRegistration.Create(s, OnSignal))];
    }
}
