using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>x87/SSE register state. The instructions that use it belong to the FPU issue; the state
/// itself is kept so the backend contract's FPU get/set round-trips.</summary>
internal sealed partial class X86Cpu
{
    private FpuState _fpu = new();

    private void ResetFpu() => _fpu = new FpuState();

    public FpuState GetFpu()
    {
        var copy = new FpuState
        {
            Fcw = _fpu.Fcw, Fsw = _fpu.Fsw, Ftwx = _fpu.Ftwx, LastOpcode = _fpu.LastOpcode,
            LastIp = _fpu.LastIp, LastDp = _fpu.LastDp, Mxcsr = _fpu.Mxcsr,
        };
        _fpu.Fpr.CopyTo(copy.Fpr, 0);
        _fpu.Xmm.CopyTo(copy.Xmm, 0);
        return copy;
    }

    public void SetFpu(FpuState state)
    {
        var copy = new FpuState
        {
            Fcw = state.Fcw, Fsw = state.Fsw, Ftwx = state.Ftwx, LastOpcode = state.LastOpcode,
            LastIp = state.LastIp, LastDp = state.LastDp, Mxcsr = state.Mxcsr,
        };
        state.Fpr.CopyTo(copy.Fpr, 0);
        state.Xmm.CopyTo(copy.Xmm, 0);
        _fpu = copy;
    }
}
