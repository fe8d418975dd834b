using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>A <see cref="PagedGuest"/> with SSE on (CR4.OSFXSR) and handlers for #UD, #NM, #GP and #XM besides #PF, each
/// recording its vector and the faulting RIP at <see cref="PagedGuest.FaultVector"/> and halting; and what a run left:
/// registers, XMM registers and MXCSR, a data range, the instruction count and the native tier's counters.</summary>
internal sealed class SseNativeGuest : IDisposable
{
    public const ulong Data = 0x100000;
    public const int DataBytes = 0x3000;
    private const ulong Handlers = 0x31000;

    public PagedGuest Paged { get; }
    public SegmentedGuest Guest => Paged.Guest;
    public X86Cpu Cpu => Paged.Guest.Cpu;

    public sealed record Outcome(Registers Registers, string Xmm, uint Mxcsr, string Memory, ulong Retired, ulong FaultVector,
        ulong FaultRip, ulong FaultAddress, long Steps, long Translations);

    public SseNativeGuest(EmuOptions options)
    {
        Paged = new PagedGuest(options);
        int slot = 0;
        foreach (int vector in new[] { 6, 7, 13, 19 })
        {
            ulong handler = Handlers + (ulong)slot++ * 64;
            Guest.SetGate64(vector, SegmentedGuest.KernelCode64, handler);
            Guest.Load(handler, 64, a =>
            {
                a.mov(__qword_ptr[PagedGuest.FaultVector], vector);
                if (vector == 13) a.pop(rax);
                a.mov(rax, __qword_ptr[rsp]);
                a.mov(__qword_ptr[PagedGuest.FaultRip], rax);
                a.hlt();
            });
        }
    }

    /// <summary>Runs 64-bit <paramref name="code"/> in ring 0 with paging and SSE on, from <paramref name="xmm"/>
    /// (16 x 16 bytes, or null for zeros); it must halt.</summary>
    public Outcome Run(Action<Assembler> code, byte[]? xmm = null)
    {
        Guest.WriteU64(PagedGuest.FaultVector, ulong.MaxValue);
        Guest.Load(SegmentedGuest.CodeBase, 64, code);
        Guest.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var s = Guest.SpecialRegisters;
        s.Cr0 |= ControlRegisters.Cr0Pg | ControlRegisters.Cr0Wp | ControlRegisters.Cr0Mp;
        s.Cr3 = PagedGuest.Pml4;
        s.Cr4 |= ControlRegisters.Cr4Pae | ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt;
        s.Efer |= ControlRegisters.EferNxe;
        Guest.Guest.Vcpu.SetSpecialRegisters(s);
        var fpu = new FpuState();
        xmm?.CopyTo(fpu.Xmm, 0);
        Guest.Guest.Vcpu.SetFpu(fpu);
        VcpuExit exit = Guest.Guest.Run(maxExits: 1000);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        FpuState after = Guest.Guest.Vcpu.GetFpu();
        var memory = new byte[DataBytes];
        Guest.Memory.Read(Data, memory);
        return new Outcome(Guest.Guest.Vcpu.GetRegisters(), Convert.ToHexString(after.Xmm), after.Mxcsr, Convert.ToHexString(memory),
            (ulong)Cpu.State.InstructionsRetired, Guest.ReadU64(PagedGuest.FaultVector), Guest.ReadU64(PagedGuest.FaultRip),
            Guest.ReadU64(PagedGuest.FaultAddress), Cpu.NativeSteps, Cpu.NativeTranslations);
    }

    /// <summary>Asserts the two runs left the same guest state (the counters of the native tier aside).</summary>
    public static void AssertSameState(Outcome interpreted, Outcome native)
    {
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Xmm, native.Xmm);
        Assert.Equal(interpreted.Mxcsr, native.Mxcsr);
        Assert.Equal(interpreted.Memory, native.Memory);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal(interpreted.FaultVector, native.FaultVector);
        Assert.Equal(interpreted.FaultRip, native.FaultRip);
        Assert.Equal(interpreted.FaultAddress, native.FaultAddress);
    }

    public void Dispose() => Paged.Dispose();
}
