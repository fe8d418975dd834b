using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.Fpu.X87Differential;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>FNSTENV/FSTENV/FLDENV/FNSAVE/FSAVE/FRSTOR: the stored images (28/108-byte and 14/94-byte layouts)
/// compared byte for byte with the host's, except the instruction/data pointer fields, which the emulator
/// does not track; and the state a restore brings back.</summary>
[Collection("HostCpu")]
public class X87EnvironmentTests
{
    private static Instruction Mem16Form(Code code, bool host, int off) =>
        Instruction.Create(code, host ? new MemoryOperand(Register.RDI, 64 + off) : new MemoryOperand(Register.EDI, off));

    private static readonly Dictionary<string, (Action<Assembler, bool> Op, int Size, int PointersFrom, int PointersTo)> Cases = new()
    {
        ["fnstenv"] = ((a, h) => { a.fdecstp(); a.fnstenv(__[Mem(h, 100)]); a.fincstp(); }, 28, 12, 28),
        ["fstenv_masks_all"] = ((a, h) => { a.fstenv(__[Mem(h, 100)]); a.fnstcw(__word_ptr[Mem(h, 90)]); }, 28, 12, 28),
        ["fnstenv_fldenv"] = ((a, h) => { a.fnstenv(__[Mem(h, 100)]); a.fninit(); a.fld1(); a.fldenv(__[Mem(h, 100)]); a.fnstcw(__word_ptr[Mem(h, 90)]); }, 28, 12, 28),
        ["fnsave_frstor"] = ((a, h) => { a.fnsave(__[Mem(h, 100)]); a.fnstsw(__word_ptr[Mem(h, 90)]); a.fnstcw(__word_ptr[Mem(h, 92)]); a.fld1(); a.frstor(__[Mem(h, 100)]); }, 108, 12, 28),
        ["fsave_after_pop"] = ((a, h) => { a.fld1(); a.fstp(st0); a.fsave(__[Mem(h, 100)]); a.frstor(__[Mem(h, 100)]); }, 108, 12, 28),
        ["fnstenv_o16"] = ((a, h) => { a.fdecstp(); a.AddInstruction(Mem16Form(Code.Fnstenv_m14byte, h, 100)); a.fincstp(); }, 14, 6, 14),
        ["fnsave_frstor_o16"] = ((a, h) => { a.AddInstruction(Mem16Form(Code.Fnsave_m94byte, h, 100)); a.fldpi(); a.AddInstruction(Mem16Form(Code.Frstor_m94byte, h, 100)); }, 94, 6, 14),
    };

    public static TheoryData<string> Names() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void StoredImageMatchesTheHost(string name)
    {
        var (op, size, pFrom, pTo) = Cases[name];
        var rng = new Random(name.Length * 31 + name[^1]);
        using var diff = new X87Differential();
        for (int i = 0; i < 150; i++)
        {
            var block = new byte[Block];
            BitConverter.TryWriteBytes(block.AsSpan(0), RandomControlWord(rng));
            Put(block, 8, RandomExtended(rng));
            Put(block, 24, RandomExtended(rng));
            var (host, emu) = diff.Run(op, block);
            host.AsSpan(100 + pFrom, pTo - pFrom).Clear();
            emu.AsSpan(100 + pFrom, pTo - pFrom).Clear();
            int end = 100 + size;
            Assert.True(host.AsSpan(0, end).SequenceEqual(emu.AsSpan(0, end)),
                $"{name} in  {Describe(block, 0, 40)}\nhost {Describe(host, 0, end)}\nemu  {Describe(emu, 0, end)}");
        }
    }

    /// <summary>Real mode uses its own layout (FIP/FOP and FDP split over two words each); the control, status
    /// and tag words keep their places and FRSTOR brings the registers back.</summary>
    [Fact]
    public void RealModeImagesKeepControlStatusAndTagWords()
    {
        using var g = new SseGuest();
        g.Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();
            a.AddInstruction(Instruction.Create(Code.Fnsave_m94byte, new MemoryOperand(Register.None, 0x3000)));
            a.fldpi();
            a.AddInstruction(Instruction.Create(Code.Frstor_m94byte, new MemoryOperand(Register.None, 0x3000)));
            a.fstp(__tword_ptr[0x3100]);
            a.AddInstruction(Instruction.Create(Code.Fnstenv_m28byte, new MemoryOperand(Register.None, 0x3200)));
        }, new global::System.Runtime.Intrinsics.Vector128<byte>[2], realMode: true);
        var image = new byte[94];
        g.Memory.Read(0x3000, image);
        Assert.Equal(0x037F, BitConverter.ToUInt16(image, 0));
        Assert.Equal(6 << 11, BitConverter.ToUInt16(image, 2));
        Assert.Equal(0x1FFF, BitConverter.ToUInt16(image, 4)); // R7 valid (1.0), R6 zero, others empty
        Assert.Equal(0UL, BitConverter.ToUInt64(image, 14)); // ST(0) = +0
        Assert.Equal(0x8000_0000_0000_0000UL, BitConverter.ToUInt64(image, 24)); // ST(1) = 1.0
        Assert.Equal(0x3FFF, BitConverter.ToUInt16(image, 32));
        var st0 = new byte[10];
        g.Memory.Read(0x3100, st0);
        Assert.Equal(0UL, BitConverter.ToUInt64(st0, 0));
        var env = new byte[28];
        g.Memory.Read(0x3200, env);
        Assert.Equal(0x037F, BitConverter.ToUInt16(env, 0));
        Assert.Equal(7 << 11, BitConverter.ToUInt16(env, 4));
        Assert.Equal(0x3FFF, BitConverter.ToUInt16(env, 8)); // only R7 (1.0) remains
    }
}
