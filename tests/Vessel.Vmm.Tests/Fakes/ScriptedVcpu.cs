using Vessel.Hypervisor;

namespace Vessel.Vmm.Tests.Fakes;

/// <summary>A vCPU that returns the exits of its script one per Run; once the script is over it "spins in the
/// guest" until kicked. It checks the VMM's side of the contract: a read exit must be completed before the
/// next Run, and nothing may be called after Dispose.</summary>
public sealed class ScriptedVcpu(int id, IEnumerable<Func<VcpuExit>> script) : IVcpu
{
    private readonly IEnumerator<Func<VcpuExit>> _script = script.GetEnumerator();
    private readonly SemaphoreSlim _kicked = new(0, int.MaxValue);
    private bool _readPending;
    private Registers _registers;
    private SpecialRegisters _specialRegisters;

    public int Id => id;
    public bool Disposed { get; private set; }
    public Thread? RunThread { get; private set; }
    public long RunCount => Interlocked.Read(ref _runCount);
    private long _runCount;
    public List<ulong> CompletedReads { get; } = [];

    public VcpuExit Run()
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        if (_readPending) throw new InvalidOperationException("Run called before the read exit was completed");
        RunThread = Thread.CurrentThread;
        Interlocked.Increment(ref _runCount);
        if (_kicked.Wait(0)) return VcpuExit.Interrupted();
        if (_script.MoveNext())
        {
            var exit = _script.Current();
            _readPending = exit.Reason is VcpuExitReason.IoIn or VcpuExitReason.MmioRead;
            return exit;
        }
        _kicked.Wait();
        return VcpuExit.Interrupted();
    }

    public void CompleteRead(ulong value)
    {
        if (!_readPending) throw new InvalidOperationException("CompleteRead without a read exit");
        _readPending = false;
        CompletedReads.Add(value);
    }

    public void Kick()
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        _kicked.Release();
    }

    public Registers GetRegisters() => _registers;
    public void SetRegisters(in Registers registers) => _registers = registers;
    public SpecialRegisters GetSpecialRegisters() => _specialRegisters;
    public void SetSpecialRegisters(in SpecialRegisters registers) => _specialRegisters = registers;
    public ulong GetMsr(uint index) => throw new UnsupportedMsrException(index);
    public void SetMsr(uint index, ulong value) => throw new UnsupportedMsrException(index);
    public FpuState GetFpu() => new();
    public void SetFpu(FpuState state) { }

    public void Dispose()
    {
        Disposed = true;
        _kicked.Dispose();
    }
}

/// <summary>Script helpers: an exit, or an endless repetition of one.</summary>
public static class Script
{
    public static Func<VcpuExit> Exit(VcpuExit exit) => () => exit;

    public static IEnumerable<Func<VcpuExit>> Of(params VcpuExit[] exits) => exits.Select(Exit);

    public static IEnumerable<Func<VcpuExit>> Forever(VcpuExit exit)
    {
        while (true) yield return () => exit;
    }
}
