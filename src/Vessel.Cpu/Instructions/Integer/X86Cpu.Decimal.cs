using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The legacy BCD adjustments DAA DAS AAA AAS AAM AAD (invalid in 64-bit mode, where Iced
/// does not decode them).</summary>
internal sealed partial class X86Cpu
{
    private bool ExecuteDecimal(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Daa: DecimalAdjust(subtract: false); return true;
            case Mnemonic.Das: DecimalAdjust(subtract: true); return true;
            case Mnemonic.Aaa: AsciiAdjust(subtract: false); return true;
            case Mnemonic.Aas: AsciiAdjust(subtract: true); return true;
            case Mnemonic.Aam:
            {
                byte divisor = ins.Immediate8;
                if (divisor == 0) FaultNoCode(Vector.DE);
                byte al = (byte)Gpr[0];
                byte q = (byte)(al / divisor), r = (byte)(al % divisor);
                WriteGprSized(0, 2, (ulong)(q << 8 | r));
                SetArithmeticFlags(ResultFlags(r, 1));
                return true;
            }
            case Mnemonic.Aad:
            {
                byte al = (byte)Gpr[0], ah = (byte)(Gpr[0] >> 8);
                byte r = (byte)(al + ah * ins.Immediate8);
                WriteGprSized(0, 2, r);
                SetArithmeticFlags(ResultFlags(r, 1));
                return true;
            }
            default:
                return false;
        }
    }

    private void DecimalAdjust(bool subtract)
    {
        byte oldAl = (byte)Gpr[0];
        bool oldCf = GetCf();
        bool af = GetAf();
        int al = oldAl;
        bool cf = false;
        if ((al & 0xF) > 9 || af)
        {
            al = subtract ? al - 6 : al + 6;
            cf = oldCf || (subtract ? oldAl < 6 : al > 0xFF);
            af = true;
        }
        else
        {
            af = false;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = subtract ? al - 0x60 : al + 0x60;
            cf = true;
        }
        byte result = (byte)al;
        WriteGprSized(0, 1, result);
        SetArithmeticFlags(ResultFlags(result, 1) | (cf ? Cf : 0) | (af ? Af : 0));
    }

    private void AsciiAdjust(bool subtract)
    {
        ulong ax = Gpr[0] & 0xFFFF;
        bool adjust = (ax & 0xF) > 9 || GetAf();
        if (adjust)
        {
            ax = subtract ? (ax - 0x106) & 0xFFFF : (ax + 0x106) & 0xFFFF;
        }
        ax &= 0xFF0F;
        WriteGprSized(0, 2, ax);
        MaterializeFlags();
        _rflags = (_rflags & ~(Cf | Af)) | (adjust ? Cf | Af : 0);
    }
}
