using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Platform;

/// <summary>Tiny real-mode guests that program the emulated platform devices and take their interrupts
/// through the whole stack (ports and MMIO claimed by the platform, delivery through the IVT, HLT sleeping
/// until the next timer). Nothing here asserts a time: only what the guest observed.</summary>
public class PlatformGuestTests
{
    private const ushort Code = 0x1000, Handler = 0x1100, Counter = 0x500;

    /// <summary>A handler that counts, prints <paramref name="marker"/> and acknowledges the interrupt.</summary>
    private static byte[] CountingHandler(char marker, Action<Assembler> eoi) => TinyGuest.Assemble(16, Handler, a =>
    {
        a.push(ax);
        a.inc(__byte_ptr[Counter]);
        a.mov(al, (byte)marker);
        a.@out(0xE9, al);
        eoi(a);
        a.pop(ax);
        a.iret();
    });

    /// <summary>STI, then HLT until the handler ran <paramref name="times"/> times, then CLI; HLT.</summary>
    private static void WaitForInterrupts(Assembler a, int times)
    {
        var wait = a.CreateLabel();
        a.mov(__byte_ptr[Counter], 0);
        a.sti();
        a.Label(ref wait);
        a.hlt();
        a.cmp(__byte_ptr[Counter], times);
        a.jb(wait);
        a.cli();
    }

    [Fact]
    public void Pit_irq0_through_the_pic_reaches_the_real_mode_handler()
    {
        using var g = new TinyGuest();
        g.Load(Handler, CountingHandler('T', a =>
        {
            a.mov(al, 0x20);
            a.@out(0x20, al); // non-specific EOI
        }));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.cli();
            a.mov(__word_ptr[0x08 * 4], Handler);
            a.mov(__word_ptr[0x08 * 4 + 2], 0);
            foreach (byte b in new byte[] { 0x11, 0x08, 0x04, 0x01, 0xFE })
            {
                a.mov(al, b);
                a.@out(b == 0x11 ? (byte)0x20 : (byte)0x21, al);
            }
            a.mov(al, 0x34); // channel 0, lobyte/hibyte, mode 2
            a.@out(0x43, al);
            a.mov(al, 0xA9); // 1193: about 1 ms
            a.@out(0x40, al);
            a.mov(al, 0x04);
            a.@out(0x40, al);
            WaitForInterrupts(a, 3);
            a.mov(al, 0x0B); // read the master's ISR: nothing left in service
            a.@out(0x20, al);
            a.@in(al, 0x20);
            a.hlt();
        }));
        g.StartRealMode(Code);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        // At least 3: one more may land between the last wait and the CLI on a slow, loaded host.
        Assert.Matches("^T{3,}$", g.Output.ToString());
        Assert.Equal(0UL, g.Vcpu.GetRegisters().Rax & 0xFF);
        Assert.DoesNotContain(g.Exits, e => e.Reason is VcpuExitReason.IoIn or VcpuExitReason.IoOut);
    }

    private static void PointFsAtTheApic(TinyGuest g)
    {
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        s.Fs.Base = 0xFEE0_0000; // "unreal" FS: real-mode code reaching the xAPIC page
        g.Vcpu.SetSpecialRegisters(s);
    }

    [Fact]
    public void Lapic_periodic_timer_interrupts_a_halted_guest()
    {
        using var g = new TinyGuest();
        g.Load(Handler, CountingHandler('L', a => a.mov(__dword_ptr.fs[0xB0], 0)));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.cli();
            a.mov(__word_ptr[0x40 * 4], Handler);
            a.mov(__word_ptr[0x40 * 4 + 2], 0);
            a.mov(__dword_ptr.fs[0xF0], 0x1FF);       // software enable
            a.mov(__dword_ptr.fs[0x3E0], 0xB);        // divide by 1
            a.mov(__dword_ptr.fs[0x320], 0x20040);    // periodic, vector 0x40
            a.mov(__dword_ptr.fs[0x380], 25_000);     // 1 ms at 25 MHz
            WaitForInterrupts(a, 4);
            a.mov(__dword_ptr.fs[0x320], 0x10040);    // mask
            a.mov(eax, __dword_ptr.fs[0x30]);         // version
            a.hlt();
        }));
        g.StartRealMode(Code);
        PointFsAtTheApic(g);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        // At least 4: one more may land between the last wait and the CLI on a slow, loaded host.
        Assert.Matches("^L{4,}$", g.Output.ToString());
        Assert.Equal(0x0005_0014UL, g.Vcpu.GetRegisters().Rax);
        Assert.DoesNotContain(g.Exits, e => e.Reason is VcpuExitReason.MmioRead or VcpuExitReason.MmioWrite);
    }

    [Fact]
    public void Pit_channel2_output_rises_on_port_61_after_its_count()
    {
        using var g = new TinyGuest();
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            var poll = a.CreateLabel();
            a.cli();
            a.@in(al, 0x61);
            a.and(al, 0xFC);           // gate channel 2 off, speaker off
            a.@out(0x61, al);
            a.mov(al, 0xB0);           // channel 2, lobyte/hibyte, mode 0
            a.@out(0x43, al);
            a.mov(al, 0x9C);           // 11932: about 10 ms
            a.@out(0x42, al);
            a.mov(al, 0x2E);
            a.@out(0x42, al);
            a.@in(al, 0x61);
            a.mov(bl, al);             // gate off: the count cannot have ended
            a.or(al, 0x01);
            a.@out(0x61, al);          // gate on: counting starts
            a.Label(ref poll);
            a.@in(al, 0x61);
            a.test(al, 0x20);
            a.jz(poll);
            a.hlt();
        }));
        g.StartRealMode(Code);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0x00UL, r.Rbx & 0x21); // gate off, OUT low
        Assert.Equal(0x21UL, r.Rax & 0x21); // gate on, OUT high at terminal count
    }

    [Fact]
    public void Level_triggered_ioapic_pin_redelivers_after_eoi_while_the_line_stays_high()
    {
        using var g = new TinyGuest();
        // Handler: LAPIC EOI (broadcast to the IOAPIC, which delivers again while GSI 10 is high);
        // the third time it masks the pin.
        g.Load(Handler, TinyGuest.Assemble(16, Handler, a =>
        {
            var done = a.CreateLabel();
            a.push(ax);
            a.inc(__byte_ptr[Counter]);
            a.mov(al, (byte)'I');
            a.@out(0xE9, al);
            a.cmp(__byte_ptr[Counter], 3);
            a.jb(done);
            a.mov(__dword_ptr.gs[0x00], 0x10 + 2 * 10);
            a.mov(__dword_ptr.gs[0x10], 0x0001_8050);  // masked, level, vector 0x50
            a.Label(ref done);
            a.mov(__dword_ptr.fs[0xB0], 0);
            a.pop(ax);
            a.iret();
        }));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.cli();
            a.mov(__word_ptr[0x50 * 4], Handler);
            a.mov(__word_ptr[0x50 * 4 + 2], 0);
            a.mov(__dword_ptr.fs[0xF0], 0x1FF);
            a.mov(__dword_ptr.gs[0x00], 0x10 + 2 * 10 + 1);
            a.mov(__dword_ptr.gs[0x10], 0);                // destination APIC 0
            a.mov(__dword_ptr.gs[0x00], 0x10 + 2 * 10);
            a.mov(__dword_ptr.gs[0x10], 0x0000_8050);      // unmasked, level, vector 0x50
            WaitForInterrupts(a, 3);
            a.mov(eax, __dword_ptr.gs[0x10]);              // entry after the handler masked it
            a.hlt();
        }));
        g.StartRealMode(Code);
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        s.Fs.Base = 0xFEE0_0000;
        s.Gs.Base = 0xFEC0_0000;
        g.Vcpu.SetSpecialRegisters(s);
        g.Vm.SetIrqLine(10, true);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal("III", g.Output.ToString()); // the handler masks the pin at the third: not timing-dependent
        Assert.Equal(0x0001_8050UL, g.Vcpu.GetRegisters().Rax); // remote IRR clear after the last EOI
    }

    [Fact]
    public void Msi_from_the_vmm_interrupts_the_guest()
    {
        using var g = new TinyGuest();
        g.Load(Handler, CountingHandler('M', a => a.mov(__dword_ptr.fs[0xB0], 0)));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.cli();
            a.mov(__word_ptr[0x61 * 4], Handler);
            a.mov(__word_ptr[0x61 * 4 + 2], 0);
            a.mov(__dword_ptr.fs[0xF0], 0x1FF);
            a.@out(0x80, al); // tells the test the APIC is enabled
            WaitForInterrupts(a, 1);
            a.hlt();
        }));
        g.StartRealMode(Code);
        PointFsAtTheApic(g);
        VcpuExit exit = g.Vcpu.Run();
        Assert.Equal((VcpuExitReason.IoOut, (ushort)0x80), (exit.Reason, exit.Port));
        g.Vm.SignalMsi(0xFEE0_0000, 0x61);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal("M", g.Output.ToString());
    }

    [Fact]
    public void Gsi0_reaches_ioapic_pin2_as_the_mp_table_routes_isa_irq0()
    {
        using var g = new TinyGuest();
        g.Load(Handler, CountingHandler('P', a => a.mov(__dword_ptr.fs[0xB0], 0)));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            a.cli();
            a.mov(__word_ptr[0x62 * 4], Handler);
            a.mov(__word_ptr[0x62 * 4 + 2], 0);
            a.mov(al, 0xFF);
            a.@out(0x21, al);                             // PIC fully masked
            a.mov(__dword_ptr.fs[0xF0], 0x1FF);
            a.mov(__dword_ptr.gs[0x00], 0x10 + 2 * 2);
            a.mov(__dword_ptr.gs[0x10], 0x62);            // pin 2: edge, vector 0x62, APIC 0
            a.@out(0x80, al);
            WaitForInterrupts(a, 1);
            a.hlt();
        }));
        g.StartRealMode(Code);
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        s.Fs.Base = 0xFEE0_0000;
        s.Gs.Base = 0xFEC0_0000;
        g.Vcpu.SetSpecialRegisters(s);
        VcpuExit exit = g.Vcpu.Run();
        Assert.Equal((VcpuExitReason.IoOut, (ushort)0x80), (exit.Reason, exit.Port));
        g.Vm.SetIrqLine(0, true);
        g.Vm.SetIrqLine(0, false);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal("P", g.Output.ToString());
    }

    [Fact]
    public void Init_and_startup_ipis_start_an_application_processor_in_real_mode()
    {
        using var g = new TinyGuest();
        IVcpu ap = g.Vm.CreateVcpu(1);
        g.Load(0x2000, TinyGuest.Assemble(16, 0, a =>
        {
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(al, (byte)'A');
            a.@out(0xE9, al);
            a.mov(__byte_ptr[0x600], 0x5A);
            a.cli();
            a.hlt();
        }));
        g.Load(Code, TinyGuest.Assemble(16, Code, a =>
        {
            var wait = a.CreateLabel();
            a.mov(__dword_ptr.fs[0x310], 0x0100_0000);   // destination APIC ID 1
            a.mov(__dword_ptr.fs[0x300], 0x0000_C500);   // INIT, level assert
            a.mov(__dword_ptr.fs[0x300], 0x0000_8500);   // INIT de-assert
            a.mov(__dword_ptr.fs[0x300], 0x0000_4602);   // SIPI: start at 0x2000
            a.Label(ref wait);
            a.pause();
            a.cmp(__byte_ptr[0x600], 0x5A);
            a.jne(wait);
            a.mov(al, 1);
            a.@out(0xF4, al);
        }));
        g.StartRealMode(Code);
        PointFsAtTheApic(g);

        var apOutput = new global::System.Text.StringBuilder();
        var stop = false;
        var apThread = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                VcpuExit exit = ap.Run();
                if (exit.Reason == VcpuExitReason.IoOut && exit.Port == TinyGuest.DebugPort)
                    lock (apOutput) apOutput.Append((char)(byte)exit.Data);
                else if (exit.Reason != VcpuExitReason.Interrupted) break;
            }
        }) { IsBackground = true };
        apThread.Start();
        try
        {
            for (int i = 0; i < 1_000_000; i++)
            {
                VcpuExit exit = g.Vcpu.Run();
                if (exit.Reason == VcpuExitReason.IoOut && exit.Port == 0xF4) break;
                Assert.True(exit.Reason is VcpuExitReason.IoOut or VcpuExitReason.Interrupted, exit.ToString());
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            ap.Kick();
            Assert.True(apThread.Join(TimeSpan.FromSeconds(30)));
        }
        lock (apOutput) Assert.Equal("A", apOutput.ToString());
        Assert.Equal(0x0200, ap.GetSpecialRegisters().Cs.Selector);
    }
}
