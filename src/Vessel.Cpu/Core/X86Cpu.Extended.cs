using System.Diagnostics.CodeAnalysis;
using Iced.Intel;
using Vessel.Hypervisor;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The x87, SIMD and XSAVE units this CPU holds, the dispatch into them, and what they see of the CPU
/// (<see cref="IUnitCpu"/>).</summary>
internal sealed partial class X86Cpu : IUnitCpu, IDecimalCpu
{
    private readonly X87Unit _x87;
    private readonly SimdUnit _simd;
    private readonly XsaveUnit _xsave;
    /// <summary>DAA DAS AAA AAS AAM AAD.</summary>
    internal DecimalUnit Bcd { get; }

    /// <summary>Executes an x87/MMX/SSE/XSAVE instruction; false if <paramref name="ins"/> is not one (the
    /// caller raises #UD).</summary>
    internal bool ExecuteExtended(ref Instruction ins)
    {
        if (SimdUnit.IsMmxForm(ref ins)) return _simd.ExecuteMmx(ref ins);
        return _xsave.Execute(ref ins) || _x87.Execute(ref ins) || _simd.Execute(ref ins);
    }

    private void ResetFpu()
    {
        _x87.Reset();
        _simd.Reset();
        _xsave.Reset();
    }

    public FpuState GetFpu()
    {
        var s = new FpuState();
        _x87.SaveTo(s);
        _simd.SaveTo(s);
        return s;
    }

    public void SetFpu(FpuState state)
    {
        _x87.LoadFrom(state);
        _simd.LoadFrom(state);
    }

    ulong IUnitCpu.Cr0 => Cr0;
    ulong IUnitCpu.Cr4 => Cr4;
    int IUnitCpu.Cpl => Cpl;
    bool IUnitCpu.IsLongMode64 => IsLongMode64;
    bool IUnitCpu.ProtectedLayout => ProtectedMode && (GetRflags() & RflagsBits.Vm) == 0;
    ulong IUnitCpu.ReadGpr(Register reg) => ReadGpr(reg);
    void IUnitCpu.WriteGpr(Register reg, ulong value) => WriteGpr(reg, value);
    void IUnitCpu.SetArithmeticFlags(ulong flags) => LazyFlags.SetArithmeticFlags(ref State, flags);
    ulong IUnitCpu.EffectiveAddress(ref Instruction ins) => EffectiveAddress(ref ins);
    ulong IUnitCpu.ReadMemoryOperand(ref Instruction ins, int size) => ReadMemoryOperand(ref ins, size);
    void IUnitCpu.WriteMemoryOperand(ref Instruction ins, int size, ulong value) => WriteMemoryOperand(ref ins, size, value);
    ulong IUnitCpu.SegmentedLinear(int seg, ulong offset, int size, AccessKind kind) => SegmentedLinear(seg, offset, size, kind);
    [DoesNotReturn] void IUnitCpu.Fault(int vector, uint errorCode) => Fault(vector, errorCode);
    [DoesNotReturn] void IUnitCpu.FaultNoCode(int vector) => FaultNoCode(vector);
}
