using Vessel.Hypervisor;
using Vessel.Vmm.Buses;

namespace Vessel.Vmm.Exits;

/// <summary>Turns one vCPU exit into an outcome: I/O and MMIO go to the buses (reads are completed on the
/// vCPU), everything else becomes a decision for the run loop. Stateless; safe to share between vCPUs.</summary>
public sealed class VcpuExitHandler(PortIoBus ports, MmioBus mmio)
{
    public ExitOutcome Handle(IVcpu vcpu, in VcpuExit exit)
    {
        switch (exit.Reason)
        {
            case VcpuExitReason.IoIn:
                vcpu.CompleteRead(ports.Read(exit.Port, exit.Size));
                return ExitOutcome.Continue;
            case VcpuExitReason.IoOut:
                ports.Write(exit.Port, exit.Size, (uint)exit.Data);
                return ExitOutcome.Continue;
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
