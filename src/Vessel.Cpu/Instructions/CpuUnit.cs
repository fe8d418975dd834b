using System.Diagnostics.CodeAnalysis;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What the x87, SIMD and XSAVE units share: their view of the CPU (<see cref="IUnitCpu"/>) under the
/// names the instruction code uses and the CR0/CR4 gates of their instructions.</summary>
internal abstract class CpuUnit(IUnitCpu cpu)
{
    protected readonly IUnitCpu Cpu = cpu;

    protected ulong Cr0 => Cpu.Cr0;
    protected ulong Cr4 => Cpu.Cr4;
    protected int Cpl => Cpu.Cpl;
    protected bool UserAccess => Cpu.Cpl == 3;
    protected bool IsLongMode64 => Cpu.IsLongMode64;
    protected ref GprFile Gpr => ref Cpu.Gpr;

    protected ulong ReadGpr(Register reg) => Cpu.ReadGpr(reg);
    protected void WriteGpr(Register reg, ulong value) => Cpu.WriteGpr(reg, value);
    protected void SetArithmeticFlags(ulong flags) => Cpu.SetArithmeticFlags(flags);
    protected ulong EffectiveAddress(ref Instruction ins) => Cpu.EffectiveAddress(ref ins);
    protected ulong ReadMemoryOperand(ref Instruction ins, int size) => Cpu.ReadMemoryOperand(ref ins, size);
    protected void WriteMemoryOperand(ref Instruction ins, int size, ulong value) => Cpu.WriteMemoryOperand(ref ins, size, value);
    protected ulong ReadVirtual(int seg, ulong offset, int size) => Cpu.ReadVirtual(seg, offset, size);
    protected void WriteVirtual(int seg, ulong offset, int size, ulong value) => Cpu.WriteVirtual(seg, offset, size, value);
    protected ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind) => Cpu.SegmentedLinear(seg, offset, size, kind);
    protected ulong ReadLinear(ulong linear, int size, bool user) => Cpu.ReadLinear(linear, size, user);
    protected void WriteLinear(ulong linear, int size, ulong value, bool user) => Cpu.WriteLinear(linear, size, value, user);

    [DoesNotReturn] protected void Fault(int vector, uint errorCode) => Cpu.Fault(vector, errorCode);
    [DoesNotReturn] protected void FaultNoCode(int vector) => Cpu.FaultNoCode(vector);

    /// <summary>Linear address of the memory operand, checked for <paramref name="size"/> bytes and, when
    /// <paramref name="align"/> is non-zero, for that alignment (#GP(0)).</summary>
    protected ulong SseLinear(ref Instruction ins, int size, AccessKind kind, int align)
    {
        ulong lin = SegmentedLinear(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins), size, kind);
        if (align != 0 && (lin & (ulong)(align - 1)) != 0) Fault(Vector.GP, 0);
        return lin;
    }

    /// <summary>#UD when CR0.EM or !CR4.OSFXSR, #NM when CR0.TS: the gate of every SSE instruction.</summary>
    protected void CheckSse()
    {
        ulong cr0 = Cr0;
        if ((cr0 & ControlRegisters.Cr0Em) != 0 || (Cr4 & ControlRegisters.Cr4Osfxsr) == 0) FaultNoCode(Vector.UD);
        if ((cr0 & ControlRegisters.Cr0Ts) != 0) FaultNoCode(Vector.NM);
    }

    /// <summary>#NM when CR0.EM or CR0.TS: the gate of x87 instructions (and FXSAVE/FXRSTOR).</summary>
    protected void CheckX87()
    {
        if ((Cr0 & (ControlRegisters.Cr0Em | ControlRegisters.Cr0Ts)) != 0) FaultNoCode(Vector.NM);
    }
}
