using Iced.Intel;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>String instructions: MOVS STOS LODS SCAS CMPS in every element size, without prefix, with REP/REPE
/// and REPNE, 64- and 32-bit address size, DF both ways, counts from 0, overlapping and matching buffers.</summary>
internal static class StringCases
{
    public enum Op { Movs, Stos, Lods, Scas, Cmps }

    public sealed record Form(Op Op, int ElementBytes, RepPrefixKind Rep, int AddressSize)
    {
        public override string ToString() => $"{Op}{"bwdq"[global::System.Numerics.BitOperations.Log2((uint)ElementBytes)]} {Rep} a{AddressSize}";
    }

    public static IEnumerable<Form> Forms()
    {
        foreach (Op op in Enum.GetValues<Op>())
            foreach (int size in new[] { 1, 2, 4, 8 })
                foreach (RepPrefixKind rep in new[] { RepPrefixKind.None, RepPrefixKind.Repe, RepPrefixKind.Repne })
                    foreach (int addressSize in new[] { 64, 32 })
                        if (rep != RepPrefixKind.Repne || op is Op.Scas or Op.Cmps)
                            yield return new Form(op, size, rep, addressSize);
    }

    public static Instruction Create(Form f) => (f.Op, f.ElementBytes) switch
    {
        (Op.Movs, 1) => Instruction.CreateMovsb(f.AddressSize, Register.None, f.Rep),
        (Op.Movs, 2) => Instruction.CreateMovsw(f.AddressSize, Register.None, f.Rep),
        (Op.Movs, 4) => Instruction.CreateMovsd(f.AddressSize, Register.None, f.Rep),
        (Op.Movs, _) => Instruction.CreateMovsq(f.AddressSize, Register.None, f.Rep),
        (Op.Stos, 1) => Instruction.CreateStosb(f.AddressSize, f.Rep),
        (Op.Stos, 2) => Instruction.CreateStosw(f.AddressSize, f.Rep),
        (Op.Stos, 4) => Instruction.CreateStosd(f.AddressSize, f.Rep),
        (Op.Stos, _) => Instruction.CreateStosq(f.AddressSize, f.Rep),
        (Op.Lods, 1) => Instruction.CreateLodsb(f.AddressSize, Register.None, f.Rep),
        (Op.Lods, 2) => Instruction.CreateLodsw(f.AddressSize, Register.None, f.Rep),
        (Op.Lods, 4) => Instruction.CreateLodsd(f.AddressSize, Register.None, f.Rep),
        (Op.Lods, _) => Instruction.CreateLodsq(f.AddressSize, Register.None, f.Rep),
        (Op.Scas, 1) => Instruction.CreateScasb(f.AddressSize, f.Rep),
        (Op.Scas, 2) => Instruction.CreateScasw(f.AddressSize, f.Rep),
        (Op.Scas, 4) => Instruction.CreateScasd(f.AddressSize, f.Rep),
        (Op.Scas, _) => Instruction.CreateScasq(f.AddressSize, f.Rep),
        (Op.Cmps, 1) => Instruction.CreateCmpsb(f.AddressSize, Register.None, f.Rep),
        (Op.Cmps, 2) => Instruction.CreateCmpsw(f.AddressSize, Register.None, f.Rep),
        (Op.Cmps, 4) => Instruction.CreateCmpsd(f.AddressSize, Register.None, f.Rep),
        _ => Instruction.CreateCmpsq(f.AddressSize, Register.None, f.Rep),
    };

    private const int MaxCount = 48, Span = MaxCount * 8;

    public static DiffCase Generate(Form f, ulong windowBase, Random r)
    {
        var input = new CpuState { Rflags = EdgeValues.Flags(r) };
        for (int i = 0; i < 16; i++) input.Gpr[i] = EdgeValues.Register(r, 8 << r.Next(4));
        input.Gpr[4] = windowBase + WindowLayout.StackTop;
        bool down = (input.Rflags & Vessel.Hypervisor.RflagsBits.Df) != 0;
        var window = new byte[WindowLayout.WindowBytes];
        r.NextBytes(window);

        // Source and destination areas, each [start - Span, start + Span) inside the data area; sometimes overlapping.
        int src = 1024 + r.Next(2048);
        int dst = r.Next(4) == 0 ? src + r.Next(-16, 17) : 5120 + r.Next(2048);
        if (r.Next(2) == 0)
        {
            // Mostly-equal buffers of few distinct values, so REPE/REPNE and SCAS stop somewhere inside.
            byte[] alphabet = [0, 0xFF, (byte)r.Next(256)];
            for (int i = -Span; i < Span; i++) window[src + i] = alphabet[r.Next(alphabet.Length)];
            window.AsSpan(src - Span, 2 * Span).CopyTo(window.AsSpan(dst - Span));
            for (int k = r.Next(3); k > 0; k--) window[dst + r.Next(-Span, Span)] ^= (byte)(1 << r.Next(8));
        }
        ulong count = r.Next(6) switch { 0 => 0, 1 => 1, _ => (ulong)r.Next(MaxCount + 1) };
        if (f.Rep == RepPrefixKind.None) count = EdgeValues.Full(r); // ignored without a prefix
        ulong srcAddress = windowBase + (ulong)src, dstAddress = windowBase + (ulong)dst;
        if (f.AddressSize == 32)
        {
            // Only ECX/ESI/EDI count: random upper halves must be ignored (and are cleared when written).
            input.Gpr[1] = (EdgeValues.Full(r) << 32) | (uint)count;
            input.Gpr[6] = (EdgeValues.Full(r) << 32) | srcAddress;
            input.Gpr[7] = (EdgeValues.Full(r) << 32) | dstAddress;
        }
        else
        {
            input.Gpr[1] = count;
            input.Gpr[6] = srcAddress;
            input.Gpr[7] = dstAddress;
        }
        if (f.Op == Op.Scas && r.Next(2) == 0)
            Location.Reg(0, f.ElementBytes).Set(input, window, Location.Mem(dst + (down ? -1 : 1) * f.ElementBytes * r.Next(MaxCount / 2), f.ElementBytes).Get(input, window));

        Instruction ins = Create(f);
        var writer = new ByteWriter();
        Encoder.Create(64, writer).Encode(ins, 0x1000);
        return new DiffCase { Instruction = ins, Code = writer.Bytes.ToArray(), Input = input, Window = window };
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
