using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The flags the SDM leaves undefined for an instruction with these inputs; they are not compared.</summary>
internal static class UndefinedFlags
{
    public static ulong For(Instruction ins, Mnemonic m, Location?[] ops, int opBytes, CpuState s, byte[] w)
    {
        int bits = opBytes * 8;
        switch (m)
        {
            case Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Test:
                return Af;
            case Mnemonic.Mul or Mnemonic.Imul:
                return Sf | Zf | Af | Pf;
            case Mnemonic.Div or Mnemonic.Idiv:
                return Arithmetic;
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc:
                return Of | Sf | Af | Pf;
            case Mnemonic.Bsf or Mnemonic.Bsr:
                return Cf | Of | Sf | Af | Pf;
            case Mnemonic.Lzcnt or Mnemonic.Tzcnt:
                return Of | Sf | Af | Pf;
        }
        if (!CaseGenerator.IsShift(m)) return 0;

        int countOperand = m is Mnemonic.Shld or Mnemonic.Shrd ? 2 : 1;
        ulong raw = ins.GetOpKind(countOperand) == OpKind.Register ? s.Gpr[1] & 0xFF : ins.GetImmediate(countOperand);
        ulong count = raw & (bits == 64 ? 63UL : 31UL);
        if (count == 0) return 0;
        ulong undefined = count > 1 ? Of : 0;
        switch (m)
        {
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr:
                undefined |= Af;
                if (count >= (ulong)bits) undefined |= Cf;
                break;
            case Mnemonic.Sar:
                undefined |= Af;
                break;
            case Mnemonic.Shld or Mnemonic.Shrd:
                undefined |= Af;
                if (count > (ulong)bits) undefined |= Arithmetic;
                break;
        }
        return undefined;
    }
}
