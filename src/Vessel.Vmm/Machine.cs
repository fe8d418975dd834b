using Microsoft.Extensions.Logging;
using Vessel.Hypervisor;
using Vessel.Devices.Bus;
using Vessel.Vmm.Exits;

namespace Vessel.Vmm;

/// <summary>A built VM: guest RAM, devices on the buses, vCPUs, and one thread per vCPU once started.
/// Lifecycle: Created → Running ⇄ Paused → Stopped. The control methods (Start, Pause, Resume, Stop,
/// WaitForExit, Dispose) are for the controlling thread; <see cref="RequestStop"/> is safe from anywhere.
/// Built by <see cref="MachineBuilder"/>.</summary>
public sealed partial class Machine : IDisposable
{
    private readonly IVirtualMachine _vm;
    private readonly IReadOnlyList<IVcpu> _vcpus;
    private readonly IReadOnlyList<GuestMemoryRegion> _ram;
    private readonly IReadOnlyList<IDisposable> _ownedDevices;
    private readonly SerialInput? _serialInput;
    private readonly RunControl _control;
    private readonly VcpuThread[] _threads;
    private readonly Lock _lifecycleLock = new();
    private readonly ILogger _logger;
    private volatile MachineState _state = MachineState.Created;

    internal Machine(
        IVirtualMachine vm, IReadOnlyList<GuestMemoryRegion> ram, IReadOnlyList<IVcpu> vcpus,
        PortIoBus ports, MmioBus mmio, IReadOnlyList<IDisposable> ownedDevices,
        SerialInput? serialInput, ILogger logger)
    {
        _vm = vm;
        _ram = ram;
        _vcpus = vcpus;
        _ownedDevices = ownedDevices;
        _serialInput = serialInput;
        _logger = logger;
        Ports = ports;
        Mmio = mmio;
        _control = new RunControl(vcpus);
        var handler = new VcpuExitHandler(ports, mmio);
        _threads = [.. vcpus.Select(v => new VcpuThread(v, handler, _control, logger))];
    }

    public MachineState State => _state;
    public PortIoBus Ports { get; }
    public MmioBus Mmio { get; }
    public GuestMemory Memory => _vm.Memory;
    public int VcpuCount => _vcpus.Count;

    /// <summary>How the VM ended, once it has (it may still be shutting down).</summary>
    public MachineExit? Exit => _control.Exit;

    /// <summary>Bytes typed at the console, for COM1's receiver: returns how many it took (all of them when the
    /// machine has no COM1 or has stopped). With some left, wait with <see cref="WaitForSerialInputSpace"/>.
    /// Safe from any thread; serialised with the vCPUs' accesses to the UART.</summary>
    public int SendToSerial(ReadOnlySpan<byte> bytes)
    {
        if (_state is MachineState.Stopped || _serialInput is null) return bytes.Length;
        return _serialInput.Offer(bytes);
    }

    /// <summary>Waits until COM1 has room again after <see cref="SendToSerial"/> took less than offered.</summary>
    public bool WaitForSerialInputSpace(TimeSpan timeout) => _serialInput?.WaitForSpace(timeout) ?? true;

    /// <summary>A break condition on COM1's line (the console's Ctrl-A b).</summary>
    public void SendSerialBreak()
    {
        if (_state is not MachineState.Stopped) _serialInput?.SendBreak();
    }

    internal Pci.VirtioConsoleInput? VirtioConsoleInput { get; init; }

    /// <summary>Bytes typed at the console, for the virtio console (hvc0): offers them and returns how many its
    /// input buffer took (all of them once the machine has stopped or has no virtio console). With some left,
    /// wait with <see cref="WaitForVirtioConsoleInputSpace"/>.</summary>
    public int SendToVirtioConsole(ReadOnlySpan<byte> bytes)
    {
        if (_state is MachineState.Stopped || _control.Exit is not null || VirtioConsoleInput is not { } console)
            return bytes.Length;
        return console.Receive(bytes);
    }

    /// <summary>Waits until the virtio console's guest driver has taken input; false on timeout.</summary>
    public bool WaitForVirtioConsoleInputSpace(TimeSpan timeout) => VirtioConsoleInput?.WaitForSpace(timeout) ?? true;

    internal Devices.I8042? Keyboard { get; init; }

    /// <summary>Types Ctrl-Alt-Del on the i8042's keyboard (IRQ 1), as Firecracker's SendCtrlAltDel: a Linux guest
    /// with the i8042 driver reboots, and the reset ends the VM. False when the machine has no i8042, has ended,
    /// or the guest has its keyboard disabled or the controller's buffer full.</summary>
    public bool SendCtrlAltDel() =>
        _state is not MachineState.Stopped && _control.Exit is null && Keyboard is { } keyboard && keyboard.SendCtrlAltDel();

    internal IReadOnlyList<Virtio.Block.VirtioBlock> Disks { get; init; } = [];

    /// <summary>The number of virtio-blk disks, in the order of <see cref="MachineConfig.Disks"/>.</summary>
    public int DiskCount => Disks.Count;

    /// <summary>Points disk <paramref name="index"/> (in <see cref="MachineConfig.Disks"/> order) at another image
    /// file while the guest runs, and raises its configuration interrupt (Firecracker's PATCH /drives). Throws
    /// <see cref="Virtio.Block.DiskImageException"/>, with the disk unchanged, if the file cannot be opened, and
    /// <see cref="InvalidOperationException"/> once the machine has stopped.</summary>
    public void SwapDiskImage(int index, string path)
    {
        lock (_lifecycleLock)
        {
            if (_state is MachineState.Stopped || _control.Exit is not null)
                throw new InvalidOperationException("the VM has ended");
            Disks[index].SwapImage(path);
        }
    }

    /// <summary>Starts one thread per vCPU. Only from Created.</summary>
    public void Start()
    {
        lock (_lifecycleLock)
        {
            if (_state != MachineState.Created)
                throw new InvalidOperationException($"cannot start a machine that is {_state}");
            _state = MachineState.Running;
            foreach (var thread in _threads) thread.Start();
        }
        LogStarted(_logger, _vcpus.Count, _vm.Memory.TotalSize >> 20);
    }

    /// <summary>Kicks every vCPU out of guest code and returns once all are parked, then drains every virtio device
    /// and holds it (no guest memory access, no interrupt) and, where the backend keeps a guest clock (kvmclock),
    /// saves it so the guest does not see the paused time. No-op when Paused.
    /// If the VM ends meanwhile, it stays Running with its exit recorded.</summary>
    public void Pause()
    {
        lock (_lifecycleLock)
        {
            if (_state == MachineState.Paused) return;
            if (_state != MachineState.Running)
                throw new InvalidOperationException($"cannot pause a machine that is {_state}");
            _control.RequestPause();
            if (_control.WaitUntilQuiescent())
            {
                PauseDevicesAndClock();
                _state = MachineState.Paused;
            }
            else
                _control.Resume();
        }
    }

    /// <summary>Lets parked vCPUs run again. No-op when Running.</summary>
    public void Resume()
    {
        lock (_lifecycleLock)
        {
            if (_state == MachineState.Running) return;
            if (_state != MachineState.Paused)
                throw new InvalidOperationException($"cannot resume a machine that is {_state}");
            ResumeDevicesAndClock();
            _state = MachineState.Running;
            _control.Resume();
        }
    }

    /// <summary>Asks the VM to end with <paramref name="exit"/> (the first request wins) without waiting.
    /// Safe from any thread: devices and signal handlers use it.</summary>
    public void RequestStop(MachineExit exit) => _control.RequestStop(exit);

    /// <summary>Ends the VM from any state: joins every vCPU thread, then disposes the vCPUs, the VM and guest
    /// RAM. Idempotent. From a vCPU thread (a device callback) it only requests the stop.</summary>
    public void Stop()
    {
        if (_threads.Any(t => t.IsCurrentThread))
        {
            RequestStop(MachineExit.Stopped("stopped from a vCPU thread"));
            return;
        }
        // Before taking the lifecycle lock, so a Pause() waiting for vCPUs gives up instead of blocking us.
        if (_state != MachineState.Stopped)
            _control.RequestStop(MachineExit.Stopped(_state == MachineState.Created ? "stopped before it ran" : "stopped by the VMM"));
        lock (_lifecycleLock)
        {
            if (_state == MachineState.Stopped) return;
            foreach (var thread in _threads) thread.Join();
            _control.DisableKicks();
            _state = MachineState.Stopped;
            ReleaseResources();
        }
        LogStopped(_logger, _control.Exit!.ToString());
    }

    /// <summary>Blocks until the VM ends (guest exit, reset, failure, RequestStop), stops it, and returns why.</summary>
    public MachineExit WaitForExit()
    {
        if (_state == MachineState.Created)
            throw new InvalidOperationException("the machine was never started");
        _control.WaitForExit(Timeout.InfiniteTimeSpan);
        Stop();
        return _control.Exit!;
    }

    /// <summary>As <see cref="WaitForExit()"/>, but gives up after <paramref name="timeout"/> (returns null, still running).</summary>
    public MachineExit? WaitForExit(TimeSpan timeout)
    {
        if (_state == MachineState.Created)
            throw new InvalidOperationException("the machine was never started");
        if (_control.WaitForExit(timeout) is null) return null;
        Stop();
        return _control.Exit;
    }

    public void Dispose() => Stop();

    private void ReleaseResources()
    {
        foreach (var vcpu in _vcpus) DisposeQuietly(vcpu, $"vCPU {vcpu.Id}");
        foreach (var device in _ownedDevices) DisposeQuietly(device, device.GetType().Name);
        DisposeQuietly(_vm, "virtual machine");
        foreach (var region in _ram) DisposeQuietly(region, "guest memory region");
    }

    private void DisposeQuietly(IDisposable resource, string what)
    {
        try
        {
            resource.Dispose();
        }
        catch (Exception ex)
        {
            LogDisposeFailed(_logger, what, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "machine started: {Vcpus} vCPU(s), {MiB} MiB")]
    private static partial void LogStarted(ILogger logger, int vcpus, ulong miB);

    [LoggerMessage(Level = LogLevel.Debug, Message = "machine stopped: {Exit}")]
    private static partial void LogStopped(ILogger logger, string exit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "disposing the {What} failed")]
    private static partial void LogDisposeFailed(ILogger logger, string what, Exception exception);
}
