using System.Numerics;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>What <see cref="DecimalUnit"/> needs beyond the units' view: the flags AAA and AAS keep or read.</summary>
internal interface IDecimalCpu : IUnitCpu
{
    bool GetAf();
    bool GetSf();
    bool GetOf();
}

/// <summary>The legacy BCD adjustments DAA DAS AAA AAS AAM AAD (invalid in 64-bit mode, where Iced
/// does not decode them): AL/AX and the arithmetic flags, seen through <see cref="IDecimalCpu"/>.</summary>
internal sealed class DecimalUnit(IDecimalCpu cpu) : CpuUnit(cpu)
{
    private readonly IDecimalCpu _flags = cpu;

    /// <summary>Executes a BCD adjustment; false if <paramref name="ins"/> is not one.</summary>
    public bool Execute(ref Instruction ins)
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
                WriteAx((ulong)(q << 8 | r));
                SetArithmeticFlags(ByteResultFlags(r));
                return true;
            }
            case Mnemonic.Aad:
            {
                byte al = (byte)Gpr[0], ah = (byte)(Gpr[0] >> 8);
                byte r = (byte)(al + ah * ins.Immediate8);
                WriteAx(r);
                SetArithmeticFlags(ByteResultFlags(r));
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>ZF, SF and PF of a byte result.</summary>
    private static ulong ByteResultFlags(byte r) =>
        (r == 0 ? Zf : 0) | ((r & 0x80) != 0 ? Sf : 0) | ((BitOperations.PopCount(r) & 1) == 0 ? Pf : 0);

    private void WriteAx(ulong value) => Gpr[0] = (Gpr[0] & ~0xFFFFUL) | (ushort)value;

    private void DecimalAdjust(bool subtract)
    {
        byte oldAl = (byte)Gpr[0];
        bool oldCf = Cpu.GetCf();
        bool af = _flags.GetAf();
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
        Gpr[0] = (Gpr[0] & ~0xFFUL) | result;
        SetArithmeticFlags(ByteResultFlags(result) | (cf ? Cf : 0) | (af ? Af : 0));
    }

    /// <summary>AAA/AAS: CF and AF set together when AL's low nibble needed the adjustment; PF, ZF, SF and OF kept.</summary>
    private void AsciiAdjust(bool subtract)
    {
        ulong ax = Gpr[0] & 0xFFFF;
        bool adjust = (ax & 0xF) > 9 || _flags.GetAf();
        if (adjust)
        {
            ax = subtract ? (ax - 0x106) & 0xFFFF : (ax + 0x106) & 0xFFFF;
        }
        ax &= 0xFF0F;
        WriteAx(ax);
        ulong kept = (Cpu.GetPf() ? Pf : 0) | (Cpu.GetZf() ? Zf : 0) | (_flags.GetSf() ? Sf : 0) | (_flags.GetOf() ? Of : 0);
        SetArithmeticFlags(kept | (adjust ? Cf | Af : 0));
    }
}
