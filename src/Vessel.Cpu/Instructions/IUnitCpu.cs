using System.Diagnostics.CodeAnalysis;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>The vCPU as its x87, SIMD and XSAVE units see it: control bits, general registers, flags, memory
/// operands and faults. The units hold it and nothing else of the CPU, so they depend on no <c>X86Cpu</c>.</summary>
internal interface IUnitCpu
{
    ulong Cr0 { get; }
    ulong Cr4 { get; }
    int Cpl { get; }
    /// <summary>64-bit mode (not compatibility mode).</summary>
    bool IsLongMode64 { get; }
    /// <summary>CR0.PE set and RFLAGS.VM clear: FSTENV/FSAVE use their protected-mode layouts.</summary>
    bool ProtectedLayout { get; }
    ref GprFile Gpr { get; }

    ulong ReadGpr(Register reg);
    void WriteGpr(Register reg, ulong value);
    bool GetCf();
    bool GetZf();
    bool GetPf();
    /// <summary>Sets CF, PF, AF, ZF, SF and OF to the given bits (the compare instructions' result).</summary>
    void SetArithmeticFlags(ulong flags);

    /// <summary>Offset of the memory operand within its segment.</summary>
    ulong EffectiveAddress(ref Instruction ins);
    ulong ReadMemoryOperand(ref Instruction ins, int size);
    void WriteMemoryOperand(ref Instruction ins, int size, ulong value);
    ulong ReadVirtual(int seg, ulong offset, int size);
    void WriteVirtual(int seg, ulong offset, int size, ulong value);
    /// <summary>The linear address of seg:offset after the segment checks of the current mode.</summary>
    ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind);
    ulong ReadLinear(ulong linear, int size, bool user);
    void WriteLinear(ulong linear, int size, ulong value, bool user);

    [DoesNotReturn] void Fault(int vector, uint errorCode);
    [DoesNotReturn] void FaultNoCode(int vector);
}
