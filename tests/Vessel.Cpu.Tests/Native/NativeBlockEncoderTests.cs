using Iced.Intel;
using Vessel.Cpu.Native;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The translator's own encoder (<see cref="NativeBlockEncoder"/>): the bytes it writes decode back to the
/// assembler's instructions, every branch landing on its label's instruction, short where the target is near and
/// near where it is not; what it cannot place (a JRCXZ out of reach) it declines, for Iced's block encoder.</summary>
public class NativeBlockEncoderTests
{
    /// <summary>Encodes <paramref name="a"/>'s instructions and decodes the bytes back, one per instruction.</summary>
    private static List<Instruction> EncodeAndDecode(Assembler a, out NativeBlockEncoder encoder)
    {
        encoder = NativeBlockEncoder.ForThisThread;
        byte[]? code = encoder.TryEncode(a.Instructions, a.CreateLabel().Id);
        Assert.NotNull(code);
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code), 0);
        var decoded = new List<Instruction>();
        while (decoder.IP < (ulong)code.Length) decoded.Add(decoder.Decode());
        Assert.Equal(a.Instructions.Count, decoded.Count);
        for (int i = 0; i < decoded.Count; i++) Assert.Equal((ulong)encoder.OffsetOf(i), decoded[i].IP);
        return decoded;
    }

    [Fact]
    public void Branches_land_on_their_labels_short_when_near_and_near_when_far()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), far = a.CreateLabel(), near = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rdi + 0x40]);
        a.jne(near);                               // a few bytes ahead: short
        a.jrcxz(near);
        a.Label(ref near);
        a.add(rax, 1);
        a.je(far);                                 // past 40 stores of 7+ bytes: near
        for (int i = 0; i < 40; i++) a.mov(__qword_ptr[rdi + 0x100 + i * 8], rax);
        a.jmp(top);                                // back over them all: near
        a.Label(ref far);
        a.db(0xE9, 0, 0, 0, 0);                    // a chain slot's bytes go through as they are
        a.ret();

        List<Instruction> d = EncodeAndDecode(a, out NativeBlockEncoder encoder);
        int nearIndex = 3, farIndex = 46, topIndex = 0;
        Assert.Equal(Code.Jne_rel8_64, d[1].Code);
        Assert.Equal((ulong)encoder.OffsetOf(nearIndex), d[1].NearBranch64);
        Assert.Equal(Code.Jrcxz_rel8_64, d[2].Code);
        Assert.Equal((ulong)encoder.OffsetOf(nearIndex), d[2].NearBranch64);
        Assert.Equal(Code.Je_rel32_64, d[4].Code);
        Assert.Equal((ulong)encoder.OffsetOf(farIndex), d[4].NearBranch64);
        Assert.Equal(Code.Jmp_rel32_64, d[45].Code);
        Assert.Equal((ulong)encoder.OffsetOf(topIndex), d[45].NearBranch64);
        Assert.Equal(Code.Jmp_rel32_64, d[46].Code); // E9 00000000: a jump to the next instruction
        Assert.Equal((ulong)encoder.OffsetOf(47), d[46].NearBranch64);
        Assert.Equal(Code.Retnq, d[47].Code);
        for (int i = 5; i < 45; i++) Assert.Equal(a.Instructions[i].MemoryDisplacement64, d[i].MemoryDisplacement64);
    }

    [Fact]
    public void A_jrcxz_out_of_reach_is_declined()
    {
        var a = new Assembler(64);
        Label far = a.CreateLabel();
        a.jrcxz(far);
        for (int i = 0; i < 40; i++) a.mov(__qword_ptr[rdi + 0x100 + i * 8], rax);
        a.Label(ref far);
        a.ret();
        NativeBlockEncoder encoder = NativeBlockEncoder.ForThisThread;
        long declined = encoder.Declined;
        Assert.Null(encoder.TryEncode(a.Instructions, a.CreateLabel().Id));
        Assert.Equal(declined + 1, encoder.Declined);
    }
}
