using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Segmentation;

/// <summary>Virtual-8086 mode (SDM vol. 3 ch. 20, no VME): entered by IRETD from ring 0, real-mode segments at CPL 3,
/// IOPL-sensitive instructions, the I/O bitmap, and interrupts to a ring-0 handler with the data segments on its
/// stack. IRET to virtual-8086 mode once ended the VM with an internal error.</summary>
public class Vm86Tests
{
    private const ulong Vm86Code = 0x42000, Handler = 0x30000, Frame = 0x700;
    private const ushort Vm86Cs = 0x4200, Vm86Ss = 0x5000, Vm86Ds = 0x1234, Vm86Es = 0x2345, Vm86Fs = 0x3456, Vm86Gs = 0x4567;
    private const uint Vm = 1 << 17, Iopl3 = 3 << 12, If = 1 << 9;

    /// <summary>A guest whose ring-0 code IRETDs into virtual-8086 code at 4200:0000 with the given EFLAGS, and
    /// whose gates for #GP (13) and INT 0x30 (DPL 3) lead to a handler that copies its 9- or 10-dword frame to
    /// <see cref="Frame"/>, records DS there too and halts.</summary>
    private static SegmentedGuest Guest(uint eflags, Action<Iced.Intel.Assembler> vm86)
    {
        var g = new SegmentedGuest(longMode: false);
        g.Load(Vm86Code, 16, vm86);
        foreach ((int vector, bool error) in new[] { (6, false), (13, true), (0x30, false) })
        {
            ulong at = Handler + (ulong)vector * 0x100;
            g.SetGate32(vector, SegmentedGuest.KernelCode32, at, dpl: 3);
            g.Load(at, 32, a =>
            {
                a.mov(ecx, ds);                              // null: the handler must load its own
                a.mov(ax, SegmentedGuest.KernelData);
                a.mov(ds, ax);
                a.mov(__dword_ptr[Frame + 0x48], ecx);
                a.mov(__dword_ptr[Frame + 0x40], vector);
                a.mov(__dword_ptr[Frame + 0x44], error ? 1 : 0);
                for (int i = 0; i < (error ? 10 : 9); i++)
                {
                    a.mov(eax, __dword_ptr[esp + 4 * i]);
                    a.mov(__dword_ptr[Frame + 4 * (ulong)i], eax);
                }
                a.mov(__dword_ptr[Frame + 0x4C], esp);
                a.hlt();
            });
        }
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.push(Vm86Gs);
            a.push(Vm86Fs);
            a.push(Vm86Ds);
            a.push(Vm86Es);
            a.push(Vm86Ss);
            a.push(0x0100);                                  // ESP
            a.push((int)(eflags | Vm));
            a.push(Vm86Cs);
            a.push(0);                                       // EIP
            a.iretd();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        return g;
    }

    private static void RunToHalt(SegmentedGuest g)
    {
        VcpuExit exit = g.Run();
        Assert.True(exit.Reason == VcpuExitReason.Halt, exit.ToString());
    }

    private static uint FrameAt(SegmentedGuest g, int slot) => g.ReadU32(Frame + 4 * (ulong)slot);

    [Fact]
    public void RealModeSegmentsAtCpl3AndAnInterruptToRingZeroPushesTheDataSegments()
    {
        using var g = Guest(Iopl3 | 2, a =>
        {
            a.mov(__word_ptr[0x10], 0x5AA5);               // DS:0x10 = 0x12350
            a.mov(ax, 0x3000);
            a.mov(es, ax);
            a.push(ds);
            a.push(es);
            a.pop(ds);
            a.mov(__word_ptr[0x20], 0x6BB6);               // 0x30020, through a segment loaded as in real mode
            a.pop(ds);
            a.mov(bx, es);
            a.@int(0x30);
        });
        RunToHalt(g);
        Assert.Equal(0x5AA5u, g.ReadU32(Vm86Ds * 16UL + 0x10) & 0xFFFF);
        Assert.Equal(0x6BB6u, g.ReadU32(0x30020) & 0xFFFF);
        Assert.Equal(0x30u, g.ReadU32(Frame + 0x40));
        // The frame: EIP (past the INT), CS, EFLAGS with VM, ESP, SS, ES, DS, FS, GS.
        Assert.Equal(Vm86Cs, (ushort)FrameAt(g, 1));
        Assert.NotEqual(0u, FrameAt(g, 2) & Vm);
        Assert.Equal(0x100u, FrameAt(g, 3));
        Assert.Equal(Vm86Ss, (ushort)FrameAt(g, 4));
        Assert.Equal(0x3000u, FrameAt(g, 5));
        Assert.Equal(Vm86Ds, (ushort)FrameAt(g, 6));
        Assert.Equal(Vm86Fs, (ushort)FrameAt(g, 7));
        Assert.Equal(Vm86Gs, (ushort)FrameAt(g, 8));
        Assert.Equal(0u, g.ReadU32(Frame + 0x48));          // DS is null in the handler
        Assert.Equal((uint)SegmentedGuest.KernelStack - 36, g.ReadU32(Frame + 0x4C)); // ring-0 stack from the TSS
        Assert.Equal(0x3000UL, g.Registers.Rbx & 0xFFFF);   // MOV r16, ES reads the selector
        Assert.Equal(0UL, g.Registers.Rflags & Vm);
    }

    [Theory]
    [InlineData(new byte[] { 0xFA })]                       // CLI
    [InlineData(new byte[] { 0xFB })]                       // STI
    [InlineData(new byte[] { 0x9C })]                       // PUSHF
    [InlineData(new byte[] { 0x9D })]                       // POPF
    [InlineData(new byte[] { 0xCD, 0x30 })]                 // INT 0x30
    [InlineData(new byte[] { 0xCF })]                       // IRET
    public void IoplSensitiveInstructionsRaiseGpBelowIopl3(byte[] instruction)
    {
        using var g = Guest(2, a => a.db(instruction));
        RunToHalt(g);
        Assert.Equal(13u, g.ReadU32(Frame + 0x40));
        Assert.Equal(0u, FrameAt(g, 0));                    // error code 0
        Assert.Equal(0u, FrameAt(g, 1));                    // EIP: the instruction itself
        Assert.Equal(Vm86Cs, (ushort)FrameAt(g, 2));
    }

    [Fact]
    public void IretBelowIopl3IsGpEvenWhenItsPopsWouldFault()
    {
        using var g = Guest(2, a =>
        {
            a.mov(sp, 0xFFFE);                              // the 6-byte frame would cross SS's 64 KiB limit: #SS
            a.iret();
        });
        RunToHalt(g);
        Assert.Equal(13u, g.ReadU32(Frame + 0x40));
        Assert.Equal(3u, FrameAt(g, 1));                    // EIP of the IRET
    }

    [Theory]
    [InlineData(new byte[] { 0x0F, 0x00, 0xD8 })]           // LTR AX
    [InlineData(new byte[] { 0x0F, 0x00, 0xD0 })]           // LLDT AX
    [InlineData(new byte[] { 0x0F, 0x00, 0xC8 })]           // STR AX
    [InlineData(new byte[] { 0x0F, 0x02, 0xC0 })]           // LAR AX, AX
    [InlineData(new byte[] { 0x63, 0xC0 })]                 // ARPL AX, AX
    public void ProtectedModeOnlyInstructionsAreUd(byte[] instruction)
    {
        using var g = Guest(Iopl3 | 2, a => a.db(instruction));
        RunToHalt(g);
        Assert.Equal(6u, g.ReadU32(Frame + 0x40));
        Assert.Equal(0u, FrameAt(g, 0));                    // EIP: the instruction itself
    }

    [Fact]
    public void IretInsideVm86AtIopl3CannotLowerIopl()
    {
        using var g = Guest(Iopl3 | 2, a =>
        {
            a.push((short)0x0002);                          // FLAGS with IOPL 0
            a.push(cs);
            a.push((short)0x40);
            a.iret();
        });
        g.Load(Vm86Code + 0x40, 16, a =>
        {
            a.pushf();
            a.pop(bx);
            a.@int(0x30);
        });
        RunToHalt(g);
        Assert.Equal(0x30u, g.ReadU32(Frame + 0x40));
        Assert.Equal((ulong)Iopl3, g.Registers.Rbx & Iopl3);
        Assert.Equal(0x44u, FrameAt(g, 0));                 // EIP past PUSHF, POP BX and INT 0x30 at 0x40
    }

    [Fact]
    public void PortAccessFollowsTheTssBitmapEvenAtIopl3()
    {
        using var g = Guest(Iopl3 | 2, a =>
        {
            a.mov(al, (byte)'V');
            a.@out(0xE9, al);                               // allowed below
            a.@out(0x80, al);                               // refused by the bitmap: #GP(0)
        });
        g.AllowPort(0xE9);
        RunToHalt(g);
        Assert.Equal("V", g.Guest.Output.ToString());
        Assert.Equal(13u, g.ReadU32(Frame + 0x40));
        Assert.Equal(4u, FrameAt(g, 1));                    // EIP of the second OUT
    }
}
