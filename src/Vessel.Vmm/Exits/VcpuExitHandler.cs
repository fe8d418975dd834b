using System.Runtime.CompilerServices;
using Vessel.Hypervisor;
using Vessel.Devices.Bus;

namespace Vessel.Vmm.Exits;

/// <summary>Turns one vCPU exit into an outcome: I/O and MMIO go to the buses (reads are completed on the
/// vCPU), everything else becomes a decision for the run loop. Stateless; safe to share between vCPUs.</summary>
public sealed class VcpuExitHandler(PortIoBus ports, MmioBus mmio)
{
    // Port I/O inline in the run loop, the rest out of line: the code run per exit stays on few pages.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ExitOutcome Handle(IVcpu vcpu, in VcpuExit exit)
    {
        if (exit.Reason == VcpuExitReason.IoOut)
        {
            ports.Write(exit.Port, exit.Size, (uint)exit.Data);
            return ExitOutcome.Continue;
        }
        if (exit.Reason == VcpuExitReason.IoIn)
        {
            vcpu.CompleteRead(ports.Read(exit.Port, exit.Size));
            return ExitOutcome.Continue;
        }
        return HandleOther(vcpu, in exit);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ExitOutcome HandleOther(IVcpu vcpu, in VcpuExit exit)
    {
        switch (exit.Reason)
        {
            case VcpuExitReason.MmioRead:
                vcpu.CompleteRead(mmio.Read(exit.Address, exit.Size));
                return ExitOutcome.Continue;
            case VcpuExitReason.MmioWrite:
                mmio.Write(exit.Address, exit.Size, exit.Data);
                return ExitOutcome.Continue;
            case VcpuExitReason.Halt:
                return ExitOutcome.Park;
            case VcpuExitReason.Interrupted:
                return ExitOutcome.CheckRequests;
            case VcpuExitReason.Shutdown:
                return ExitOutcome.Stop(MachineExit.TripleFault(exit.Message));
            case VcpuExitReason.InternalError:
                return ExitOutcome.Stop(MachineExit.Failed($"vCPU {vcpu.Id}: internal error: {exit.Message ?? "no detail"}"));
            default:
                return ExitOutcome.Stop(MachineExit.Failed($"vCPU {vcpu.Id}: unknown exit {exit}"));
        }
    }
}
