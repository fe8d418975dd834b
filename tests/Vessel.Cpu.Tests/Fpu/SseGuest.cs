using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Runs a short instruction sequence in 32-bit flat protected mode with CR4.OSFXSR set, from a
/// given XMM/MXCSR state, and returns the FPU state afterwards.</summary>
internal sealed class SseGuest : IDisposable
{
    public const ulong CodeAddress = 0x1000, DataAddress = 0x3000;
    private readonly TinyGuest _guest = new();

    public GuestMemory Memory => _guest.Memory;
    public IVcpu Vcpu => _guest.Vcpu;

    public FpuState Run(Action<Assembler> body, Vector128<byte>[] xmm, uint mxcsr = 0x1F80, Action<SpecialRegisters>? adjust = null)
    {
        _guest.Load(CodeAddress, TinyGuest.Assemble(32, CodeAddress, a => { body(a); a.hlt(); }));
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(8, code: true);
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = Segment.Flat(16, code: false);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et | ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ne;
        s.Cr4 = ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
        adjust?.Invoke(s);
        _guest.Vcpu.SetSpecialRegisters(s);
        _guest.Vcpu.SetRegisters(new Registers { Rip = CodeAddress, Rflags = 2, Rsp = 0x8000 });
        var fpu = new FpuState { Mxcsr = mxcsr };
        for (int i = 0; i < xmm.Length; i++) xmm[i].CopyTo(fpu.Xmm.AsSpan(i * 16, 16));
        _guest.Vcpu.SetFpu(fpu);
        VcpuExit exit = _guest.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        return _guest.Vcpu.GetFpu();
    }

    public static Vector128<byte> Xmm(FpuState s, int i) => Vector128.Create(s.Xmm.AsSpan(i * 16, 16));

    public void Dispose() => _guest.Dispose();
}
