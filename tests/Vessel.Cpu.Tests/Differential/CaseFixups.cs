using Iced.Intel;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>Per-mnemonic adjustments of a generated case: inputs that would fault natively (#DE) are repaired,
/// shift counts and bit offsets get their edge values, CMPXCHG sometimes matches.</summary>
internal static class CaseFixups
{
    /// <summary>A shift count for <paramref name="bits"/>-bit operands; SHLD/SHRD on 16 bits keep the masked count
    /// at most 16 (above it the result is undefined).</summary>
    public static byte Count(Mnemonic m, Random r, int bits)
    {
        byte c = EdgeValues.ShiftCount(r, bits);
        if (m is Mnemonic.Shld or Mnemonic.Shrd && bits == 16 && (c & 31) > 16) c = (byte)(r.Next(17) | (r.Next(2) << 5));
        return c;
    }

    /// <summary>Returns false when no valid case could be made from these operands (the generator retries).</summary>
    public static bool Apply(DiffCase c, Mnemonic m, Location?[] ops, int opBytes, Random r)
    {
        CpuState s = c.Input;
        byte[] w = c.Window;
        Instruction ins = c.Instruction;
        for (int i = 0; i < ops.Length; i++)
            if (IsShiftLike(m) && ins.GetOpKind(i) == OpKind.Register && ins.GetOpRegister(i) == Register.CL)
                Location.Reg(1, 1).Set(s, w, Count(m, r, opBytes * 8));

        switch (m)
        {
            case Mnemonic.Div:
            case Mnemonic.Idiv:
                return FixDivision(s, w, ops[0]!.Value, opBytes * 8, m == Mnemonic.Idiv, r);
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc when ops[0]!.Value.IsMemory && ops[1] is { } bitReg:
            {
                long offset = r.Next(6) switch
                {
                    0 => 0, 1 => -1, 2 => opBytes * 8 - 1, 3 => opBytes * 8, 4 => -opBytes * 8,
                    _ => r.Next(-32768, 32768),
                };
                bitReg.Set(s, w, (ulong)offset);
                return true;
            }
            case Mnemonic.Cmpxchg when r.Next(2) == 0:
                Location.Reg(0, opBytes).Set(s, w, ops[0]!.Value.Get(s, w));
                return true;
            case Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b when r.Next(2) == 0:
            {
                var mem = ops[0]!.Value;
                int half = m == Mnemonic.Cmpxchg8b ? 4 : 8;
                Location.Reg(0, half).Set(s, w, Location.Mem(mem.Offset, half).Get(s, w));
                Location.Reg(2, half).Set(s, w, Location.Mem(mem.Offset + half, half).Get(s, w));
                return true;
            }
            case Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Popcnt or Mnemonic.Lzcnt or Mnemonic.Tzcnt when r.Next(8) == 0:
                ops[1]!.Value.Set(s, w, 0);
                return true;
            case Mnemonic.Leave:
            case Mnemonic.Enter:
                // RBP must point into the private stack (LEAVE loads RSP from it; ENTER copies frame pointers).
                s.Gpr[5] = s.Gpr[4] + (ulong)(8 * r.Next(-8, 64)) + (ulong)(r.Next(4) == 0 ? r.Next(8) : 0);
                return true;
            case Mnemonic.Popfq or Mnemonic.Popf:
                Location.Mem(WindowLayout.StackTop, m == Mnemonic.Popf ? 2 : 8).Set(s, w, EdgeValues.Flags(r));
                return true;
            default:
                return true;
        }
    }

    private static bool IsShiftLike(Mnemonic m) => CaseGenerator.IsShift(m);

    private static bool FixDivision(CpuState s, byte[] w, Location divisor, int bits, bool signed, Random r)
    {
        ulong mask = EdgeValues.Mask(bits);
        // The dividend: AX for bytes, otherwise rDX:rAX.
        Location lo = bits == 8 ? Location.Reg(0, 1) : Location.Reg(0, bits / 8);
        Location hi = bits == 8 ? Location.Reg(0, 1, highByte: true) : Location.Reg(2, bits / 8);
        if (divisor.Get(s, w) == 0) divisor.Set(s, w, EdgeValues.Of(r, bits) | 1);
        ulong d = divisor.Get(s, w);
        ulong low = lo.Get(s, w);
        ulong high = signed
            ? (r.Next(4) != 0 ? ((low >> (bits - 1)) & 1) * mask : (ulong)r.Next(-2, 2) & mask)
            : (ulong)r.NextInt64() % (d == 0 ? 1 : d);
        hi.Set(s, w, high);
        // The divisor may be one of the dividend registers: check the final values.
        d = divisor.Get(s, w);
        if (d == 0) return false;
        low = lo.Get(s, w);
        high = hi.Get(s, w);
        if (!signed)
            return high < d;
        Int128 dividend = ((Int128)(long)(bits == 64 ? high : SignExtend(high, bits)) << bits) | (Int128)(UInt128)low;
        Int128 q = dividend / (Int128)(long)SignExtend(d, bits);
        Int128 min = -((Int128)1 << (bits - 1)), max = ((Int128)1 << (bits - 1)) - 1;
        return q >= min && q <= max;
    }

    public static ulong SignExtend(ulong v, int bits) => bits >= 64 ? v : (ulong)((long)(v << (64 - bits)) >> (64 - bits));
}
