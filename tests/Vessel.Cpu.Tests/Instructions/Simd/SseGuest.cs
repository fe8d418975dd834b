using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Runs a short instruction sequence in 32-bit flat protected mode (or real mode, where exceptions
/// can be delivered through the IVT) with CR4.OSFXSR set, from a given XMM/MXCSR state, and returns the FPU
/// state afterwards.</summary>
internal sealed class SseGuest : IDisposable
{
    public const ulong CodeAddress = 0x1000, DataAddress = 0x3000;
    private readonly TinyGuest _guest = new();

    public GuestMemory Memory => _guest.Memory;
    public IVcpu Vcpu => _guest.Vcpu;

    public FpuState Run(Action<Assembler> body, Vector128<byte>[] xmm, uint mxcsr = 0x1F80, Func<SpecialRegisters, SpecialRegisters>? adjust = null, bool realMode = false, ulong rdi = 0)
    {
        _guest.Load(CodeAddress, TinyGuest.Assemble(realMode ? 16 : 32, CodeAddress, a => { body(a); a.hlt(); }));
        InstallExceptionHandlers();
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(8, code: true);
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = Segment.Flat(16, code: false);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et | ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ne;
        s.Cr4 = ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
        s.Gdt = new DescriptorTable { Base = GdtAddress, Limit = 23 };
        s.Idt = new DescriptorTable { Base = IdtAddress, Limit = 32 * 8 - 1 };
        if (realMode)
        {
            s = SpecialRegisters.RealMode();
            s.Cr0 = ControlRegisters.Cr0Et | ControlRegisters.Cr0Mp | ControlRegisters.Cr0Ne;
            s.Cr4 = ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
            s.Idt = new DescriptorTable { Base = 0, Limit = 0x3FF };
        }
        if (adjust != null) s = adjust(s);
        _guest.Vcpu.SetSpecialRegisters(s);
        _guest.Vcpu.SetRegisters(new Registers { Rip = CodeAddress, Rflags = 2, Rsp = 0x8000, Rdi = rdi });
        var fpu = new FpuState { Mxcsr = mxcsr };
        for (int i = 0; i < xmm.Length; i++) xmm[i].CopyTo(fpu.Xmm.AsSpan(i * 16, 16));
        _guest.Vcpu.SetFpu(fpu);
        VcpuExit exit = _guest.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        return _guest.Vcpu.GetFpu();
    }

    public const ulong GdtAddress = 0x500, IdtAddress = 0x600, HandlerAddress = 0x800;

    /// <summary>The exceptions the guest took: one letter per vector ('A' + vector), from handlers that halt.</summary>
    public string Exceptions => _guest.Output.ToString();

    /// <summary>A flat GDT and an IDT whose handler for vector v writes 'A' + v to the debug port and halts.</summary>
    private void InstallExceptionHandlers()
    {
        var gdt = new byte[24];
        BitConverter.TryWriteBytes(gdt.AsSpan(8), 0x00CF9A000000FFFFUL);
        BitConverter.TryWriteBytes(gdt.AsSpan(16), 0x00CF92000000FFFFUL);
        _guest.Memory.Write(GdtAddress, gdt);
        var idt = new byte[32 * 8];
        for (int v = 0; v < 32; v++)
        {
            ulong handler = HandlerAddress + (ulong)v * 8;
            ulong gate = (handler & 0xFFFF) | 8UL << 16 | 0x8E00UL << 32 | (handler >> 16) << 48;
            BitConverter.TryWriteBytes(idt.AsSpan(v * 8), gate);
            _guest.Load(handler, new byte[] { 0xB0, (byte)('A' + v), 0xE6, 0xE9, 0xF4, 0x90, 0x90, 0x90 });
        }
        _guest.Memory.Write(IdtAddress, idt);
        var ivt = new byte[32 * 4];
        for (int v = 0; v < 32; v++) BitConverter.TryWriteBytes(ivt.AsSpan(v * 4), (uint)(HandlerAddress + (ulong)v * 8));
        _guest.Memory.Write(0, ivt);
    }

    public static Vector128<byte> Xmm(FpuState s, int i) => Vector128.Create(s.Xmm.AsSpan(i * 16, 16));

    public void Dispose() => _guest.Dispose();
}
