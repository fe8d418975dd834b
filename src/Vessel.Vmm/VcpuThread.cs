using Microsoft.Extensions.Logging;
using Vessel.Hypervisor;
using Vessel.Vmm.Exits;

namespace Vessel.Vmm;

/// <summary>The dedicated thread of one vCPU: run, handle the exit, repeat, until the VM stops.
/// An exception from a device or the backend ends the VM with a failure instead of the process.</summary>
internal sealed partial class VcpuThread
{
    private readonly IVcpu _vcpu;
    /// <summary><see cref="IVcpu.Run"/> bound once: called through the interface, each exit would read a dispatch
    /// cell and its cache, two more pages (under nested virtualization, a page walk each).</summary>
    private readonly Func<VcpuExit> _run;
    private readonly VcpuExitHandler _handler;
    private readonly RunControl _control;
    private readonly ILogger _logger;
    private readonly Thread _thread;

    public VcpuThread(IVcpu vcpu, VcpuExitHandler handler, RunControl control, ILogger logger)
    {
        _vcpu = vcpu;
        _run = vcpu.Run;
        _handler = handler;
        _control = control;
        _logger = logger;
        _thread = new Thread(Run) { Name = $"vCPU {vcpu.Id}", IsBackground = true };
        Counters = new VcpuCounters(vcpu.Id);
    }

    public bool IsCurrentThread => Thread.CurrentThread == _thread;

    public VcpuCounters Counters { get; }

    private bool _started;

    public void Start()
    {
        _thread.Start();
        _started = true;
    }

    public void Join()
    {
        if (_started) _thread.Join();
    }

    private void Run()
    {
        try
        {
            Counters.RecordThread();
            RunUntilStopped();
        }
        catch (Exception ex)
        {
            LogCrash(_logger, _vcpu.Id, ex);
            _control.RequestStop(MachineExit.Failed($"vCPU {_vcpu.Id} failed: {ex.GetType().Name}: {ex.Message}"));
        }
        finally
        {
            _control.VcpuFinished();
        }
    }

    private void RunUntilStopped()
    {
        while (!_control.StopRequested)
        {
            if (_control.PauseRequested)
            {
                _control.ParkWhilePaused();
                continue;
            }
            VcpuExit exit = _run();
            Counters.CountExit(exit.Reason);
            ExitOutcome outcome = _handler.Handle(_vcpu, in exit);
            // Conditionals, not a switch: no jump table to load on every exit.
            if (outcome.Action is ExitAction.Continue or ExitAction.CheckRequests) continue;
            if (outcome.Action == ExitAction.Park)
            {
                LogHalted(_logger, _vcpu.Id);
                _control.ParkHalted();
                return;
            }
            if (exit.Reason is VcpuExitReason.Shutdown or VcpuExitReason.InternalError && _logger.IsEnabled(LogLevel.Debug))
                LogFinalState(_logger, _vcpu.Id, exit.Reason.ToString(), VcpuStateDump.Describe(_vcpu));
            _control.RequestStop(outcome.Exit!);
            return;
        }
        // Stopped from outside (a signal, Ctrl-A x, another vCPU): where this vCPU was helps find a hung guest.
        if (_logger.IsEnabled(LogLevel.Debug)) LogStoppedState(_logger, _vcpu.Id, VcpuStateDump.Describe(_vcpu));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "vCPU {Id} stopped; its state:\n{State}")]
    private static partial void LogStoppedState(ILogger logger, int id, string state);

    [LoggerMessage(Level = LogLevel.Debug, Message = "vCPU {Id} failed")]
    private static partial void LogCrash(ILogger logger, int id, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "vCPU {Id} ended the VM ({Reason}); its state:\n{State}")]
    private static partial void LogFinalState(ILogger logger, int id, string reason, string state);

    [LoggerMessage(Level = LogLevel.Debug, Message = "vCPU {Id} halted with interrupts disabled; parked")]
    private static partial void LogHalted(ILogger logger, int id);
}
