using System.Diagnostics.CodeAnalysis;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>The x87 unit runs with nothing of the CPU but <see cref="IUnitCpu"/>: here a stand-in with flat memory
/// (an operand's address is its displacement), so what it computes and where it raises faults is its own.</summary>
public class X87UnitAloneTests
{
    private sealed class StandInCpu : IUnitCpu
    {
        public readonly byte[] Memory = new byte[256];
        private GprFile _gpr;
        public ulong Cr0 { get; set; } = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Ne;
        public ulong Cr4 => 0;
        public int Cpl => 0;
        public bool IsLongMode64 => true;
        public bool ProtectedLayout => true;
        public ref GprFile Gpr => ref _gpr;

        public ulong ReadGpr(Register reg) => _gpr[reg.GetFullRegister().GetNumber()];
        public void WriteGpr(Register reg, ulong value) => _gpr[reg.GetFullRegister().GetNumber()] = value;
        public bool GetCf() => false;
        public bool GetZf() => false;
        public bool GetPf() => false;
        public void SetArithmeticFlags(ulong flags) { }
        public ulong EffectiveAddress(ref Instruction ins) => ins.MemoryDisplacement64;
        public ulong ReadMemoryOperand(ref Instruction ins, int size) => ReadLinear(ins.MemoryDisplacement64, size, false);
        public void WriteMemoryOperand(ref Instruction ins, int size, ulong value) => WriteLinear(ins.MemoryDisplacement64, size, value, false);
        public ulong ReadVirtual(int seg, ulong offset, int size) => ReadLinear(offset, size, false);
        public void WriteVirtual(int seg, ulong offset, int size, ulong value) => WriteLinear(offset, size, value, false);
        public ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind) => offset;

        public ulong ReadLinear(ulong linear, int size, bool user)
        {
            ulong v = 0;
            for (int i = size - 1; i >= 0; i--) v = v << 8 | Memory[(int)linear + i];
            return v;
        }

        public void WriteLinear(ulong linear, int size, ulong value, bool user)
        {
            for (int i = 0; i < size; i++) Memory[(int)linear + i] = (byte)(value >> (8 * i));
        }

        [DoesNotReturn] public void Fault(int vector, uint errorCode) => throw new GuestFault(vector);
        [DoesNotReturn] public void FaultNoCode(int vector) => throw new GuestFault(vector);
    }

    private sealed class GuestFault(int vector) : Exception($"vector {vector}")
    {
        public int Vector { get; } = vector;
    }

    private static List<Instruction> Decode(Action<Assembler> emit)
    {
        var a = new Assembler(64);
        emit(a);
        byte[] code = GuestCode.Assemble(a, 0);
        var decoder = Decoder.Create(64, code);
        var list = new List<Instruction>();
        while (decoder.IP < (ulong)code.Length) list.Add(decoder.Decode());
        return list;
    }

    private static void Run(X87Unit unit, List<Instruction> code)
    {
        foreach (Instruction i in code)
        {
            Instruction ins = i;
            Assert.True(unit.Execute(ref ins), ins.ToString());
        }
    }

    [Theory]
    [InlineData(2.5, 1.25)]
    [InlineData(-3.0, 1e-300)]
    [InlineData(1.0 / 3, 3.0)]
    public void MultipliesThroughItsOwnStackAndMemoryOperands(double x, double y)
    {
        var cpu = new StandInCpu();
        BitConverter.TryWriteBytes(cpu.Memory.AsSpan(0x10), x);
        BitConverter.TryWriteBytes(cpu.Memory.AsSpan(0x18), y);
        var unit = new X87Unit(cpu);
        unit.Reset();
        Run(unit, Decode(a =>
        {
            a.fld(__qword_ptr[0x10]);
            a.fmul(__qword_ptr[0x18]);
            a.fstp(__qword_ptr[0x20]);
            a.fnstsw(ax);
        }));
        // One operand has at most three significant bits, so the exact product fits the 64-bit significand and
        // FSTP rounds it once to double, as the host's multiplication does.
        Assert.Equal(x * y, BitConverter.ToDouble(cpu.Memory, 0x20));
        Assert.Equal(0UL, (cpu.Gpr[0] >> 11) & 7); // TOP back to 0 after the pop
    }

    [Fact]
    public void RaisesNmThroughTheCpuWhenTaskSwitched()
    {
        var cpu = new StandInCpu();
        var unit = new X87Unit(cpu);
        unit.Reset();
        cpu.Cr0 |= ControlRegisters.Cr0Ts;
        var code = Decode(a => a.fld1());
        Instruction ins = code[0];
        var fault = Assert.Throws<GuestFault>(() => unit.Execute(ref ins));
        Assert.Equal(Vector.NM, fault.Vector);
    }
}
