namespace Vessel.Cpu.Fpu;

/// <summary>An x87 80-bit extended-precision value: explicit 64-bit significand and 16-bit sign/exponent.</summary>
internal readonly record struct Float80(ulong Mant, ushort SignExp)
{
    public const ulong IntegerBit = 0x8000_0000_0000_0000UL;
    public static readonly Float80 Indefinite = new(0xC000_0000_0000_0000UL, 0xFFFF);
    public static readonly Float80 Zero = new(0, 0);

    public int BiasedExp => SignExp & 0x7FFF;
    public bool Sign => (SignExp & 0x8000) != 0;
    public bool IsNaN => BiasedExp == 0x7FFF && (Mant & IntegerBit) != 0 && (Mant << 1) != 0;
    public bool IsSNaN => IsNaN && (Mant & 0x4000_0000_0000_0000UL) == 0;
    public bool IsInf => BiasedExp == 0x7FFF && Mant == IntegerBit;
    public bool IsZero => BiasedExp == 0 && Mant == 0;
    public bool IsDenormal => BiasedExp == 0 && Mant != 0;
    /// <summary>Encodings the 387 and later reject: unnormals, pseudo-NaNs and pseudo-infinities.</summary>
    public bool IsUnsupported => BiasedExp != 0 && (Mant & IntegerBit) == 0;
    public Float80 Quiet => new(Mant | 0x4000_0000_0000_0000UL, SignExp);
    public Float80 Negate => new(Mant, (ushort)(SignExp ^ 0x8000));
    public Float80 Abs => new(Mant, (ushort)(SignExp & 0x7FFF));

    public static Float80 Infinity(bool sign) => new(IntegerBit, (ushort)(sign ? 0xFFFF : 0x7FFF));
    public static Float80 SignedZero(bool sign) => new(0, (ushort)(sign ? 0x8000 : 0));

    public Unpacked Unpack() => Unpacked.FromInteger(Sign, Mant, BiasedExp == 0 ? -16382 - 63 : BiasedExp - 16383 - 63);

    public static Float80 Pack(in Rounded r, int precision)
    {
        if (r.Infinite) return Infinity(r.Sign);
        ushort sign = (ushort)(r.Sign ? 0x8000 : 0);
        if (r.Mant == 0) return new Float80(0, sign);
        ulong m = r.Mant << (64 - precision);
        ushort be = (m & IntegerBit) != 0 ? (ushort)(r.Exp + 16383) : (ushort)0;
        return new Float80(m, (ushort)(sign | be));
    }
}
