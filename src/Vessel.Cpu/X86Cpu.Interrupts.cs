using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Exception and interrupt delivery.</summary>
internal sealed partial class X86Cpu
{
    

    /// <summary>Delivers a fault raised by an instruction (RIP already at the instruction).</summary>
    private void DeliverFault(CpuFault f)
    {
        if ((Cr0 & ControlRegisters.Cr0Pe) == 0)
        {
            DeliverRealMode(f.FaultVector);
            return;
        }
        RequestExit(VcpuExit.Shutdown($"unhandled exception {f.FaultVector} (error code 0x{f.ErrorCode:x}) at RIP 0x{Rip:x}"));
    }

    private void DeliverRealMode(int vector)
    {
        ulong entry = (ulong)vector * 4;
        if (entry + 3 > Idtr.Limit)
        {
            RequestExit(VcpuExit.Shutdown($"real-mode vector {vector} beyond the IVT"));
            return;
        }
        ulong ip = ReadLinear(Idtr.Base + entry, 2, false);
        ulong cs = ReadLinear(Idtr.Base + entry + 2, 2, false);
        Push(GetRflags(), 2);
        Push(Seg[CS].Selector, 2);
        Push(Rip, 2);
        _rflags &= ~(RflagsBits.If | RflagsBits.Tf | RflagsBits.Ac);
        Seg[CS].Selector = (ushort)cs;
        Seg[CS].Base = cs << 4;
        Rip = ip;
    }

    /// <summary>Delivers a pending external interrupt or NMI if the CPU can take it now.</summary>
    private bool DeliverPendingInterrupt() => false;

    private void WaitForInterrupt()
    {
        _vm.Platform.WaitForWake(this);
    }
}
