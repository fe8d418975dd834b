using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>x87 control instructions: FNINIT, FNSTSW, FNSTCW, FLDCW, FNCLEX (and their waiting forms), FWAIT.</summary>
internal sealed partial class X87Unit
{
    private bool ExecuteX87Control(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fninit: CheckX87(); ResetX87Control(); return true;
            case Mnemonic.Fnclex: CheckX87(); _fsw &= 0x7F00; return true;
            case Mnemonic.Fnstsw: CheckX87(); StoreStatusWord(ref ins); return true;
            case Mnemonic.Fnstcw: CheckX87(); WriteMemoryOperand(ref ins, 2, _fcw); return true;
            case Mnemonic.Fldcw: CheckX87Waiting(); _fcw = (ushort)(ReadMemoryOperand(ref ins, 2) | 0x40); SyncX87ErrorSummary(); return true;
            case Mnemonic.Finit: CheckX87Waiting(); ResetX87Control(); return true;
            case Mnemonic.Fclex: CheckX87Waiting(); _fsw &= 0x7F00; return true;
            case Mnemonic.Fstsw: CheckX87Waiting(); StoreStatusWord(ref ins); return true;
            case Mnemonic.Fstcw: CheckX87Waiting(); WriteMemoryOperand(ref ins, 2, _fcw); return true;
            case Mnemonic.Wait:
                if ((Cr0 & (ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ts)) == (ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ts))
                    FaultNoCode(Vector.NM);
                if ((_fsw & ErrorSummary) != 0 && (Cr0 & ControlRegisters.Cr0Ne) != 0) FaultNoCode(Vector.MF);
                return true;
        }
        return false;
    }

    /// <summary>FSTSW/FNSTSW: to AX or a 16-bit memory operand.</summary>
    private void StoreStatusWord(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register) WriteGpr(Register.AX, _fsw);
        else WriteMemoryOperand(ref ins, 2, _fsw);
    }
}
