using Vessel.Hypervisor;
using Vessel.Devices.Bus;
using Vessel.Vmm.Exits;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

public class VcpuExitHandlerTests
{
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly VcpuExitHandler _handler;
    private readonly ScriptedVcpu _vcpu = new(0, []);

    public VcpuExitHandlerTests() => _handler = new VcpuExitHandler(_ports, _mmio);

    private ExitOutcome Handle(VcpuExit exit)
    {
        // Make the fake expect a completion exactly when the handler owes one.
        var vcpu = new ScriptedVcpu(0, Script.Of(exit));
        vcpu.Run();
        var outcome = _handler.Handle(vcpu, exit);
        _lastVcpu = vcpu;
        return outcome;
    }

    private ScriptedVcpu _lastVcpu = null!;

    [Fact]
    public void IoInReadsTheBusAndCompletesTheRead()
    {
        _ports.Register(0x71, 1, new RecordingPortDevice(0x42));
        Assert.Equal(ExitOutcome.Continue, Handle(VcpuExit.IoIn(0x71, 1)));
        Assert.Equal([0x42UL], _lastVcpu.CompletedReads);
    }

    [Fact]
    public void IoInFromNothingCompletesWithAllOnes()
    {
        Handle(VcpuExit.IoIn(0x1234, 2));
        Assert.Equal([0xFFFFUL], _lastVcpu.CompletedReads);
    }

    [Fact]
    public void IoOutWritesTheBus()
    {
        var device = new RecordingPortDevice();
        _ports.Register(0x3f8, 8, device);
        Assert.Equal(ExitOutcome.Continue, Handle(VcpuExit.IoOut(0x3f8, 1, 'h')));
        Assert.Equal([("w", (ushort)0, 1, (uint)'h')], device.Accesses);
    }

    [Fact]
    public void MmioReadAndWriteGoToTheMmioBus()
    {
        var device = new RecordingMmioDevice(0x1122_3344_5566_7788);
        _mmio.Register(0xfec0_0000, 0x1000, device);
        Assert.Equal(ExitOutcome.Continue, Handle(VcpuExit.MmioRead(0xfec0_0010, 8)));
        Assert.Equal([0x1122_3344_5566_7788UL], _lastVcpu.CompletedReads);
        Assert.Equal(ExitOutcome.Continue, Handle(VcpuExit.MmioWrite(0xfec0_0000, 4, 7)));
        Assert.Equal(("w", 0UL, 4, 7UL), device.Accesses[^1]);
    }

    [Fact]
    public void HaltParksTheVcpu() => Assert.Equal(ExitAction.Park, _handler.Handle(_vcpu, VcpuExit.Halt()).Action);

    [Fact]
    public void InterruptedChecksRequests() =>
        Assert.Equal(ExitAction.CheckRequests, _handler.Handle(_vcpu, VcpuExit.Interrupted()).Action);

    [Fact]
    public void TripleFaultEndsTheVmLikeAResetWithStatusZero()
    {
        var outcome = _handler.Handle(_vcpu, VcpuExit.Shutdown("triple fault at 0x1000"));
        Assert.Equal(ExitAction.StopMachine, outcome.Action);
        Assert.Equal(MachineExitKind.TripleFault, outcome.Exit!.Kind);
        Assert.Equal(0, outcome.Exit.Status);
        Assert.Contains("triple fault at 0x1000", outcome.Exit.Reason);
    }

    [Fact]
    public void InternalErrorEndsTheVmWithFailureAndTheMessage()
    {
        var outcome = _handler.Handle(_vcpu, VcpuExit.InternalError("unsupported instruction"));
        Assert.Equal(ExitAction.StopMachine, outcome.Action);
        Assert.True(outcome.Exit!.IsFailure);
        Assert.Equal(MachineExit.FailureStatus, outcome.Exit.Status);
        Assert.Contains("unsupported instruction", outcome.Exit.Reason);
    }
}
