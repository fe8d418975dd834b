using Iced.Intel;
using Vessel.Vmm;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Hostile.Tests;

/// <summary>Tiny guests that do what no sane guest does, on the emu backend with every standard device. Each
/// asserts the VM went on to its own end (or ended as a PC would: a triple fault), that this process's resident
/// memory grew by less than <see cref="HostileGuest.RssBoundBytes"/>, and that Stop returned promptly (<see cref="HostileGuest.StopBound"/>).</summary>
[Trait("Category", "Hostile")]
public class HostileGuestTests(ITestOutputHelper output)
{
    /// <summary>How long a guest that should end by itself may run (the port sweep takes ~5 s on a quiet machine,
    /// over 30 s at load 50).</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    private HostileRun RunAndReport(byte[] kernel, TimeSpan? timeout = null) => RunAndReport(1, kernel, timeout);

    private HostileRun RunAndReport(int vcpus, byte[] kernel, TimeSpan? timeout = null)
    {
        var run = HostileGuest.Run(kernel, timeout ?? Timeout, vcpus);
        output.WriteLine($"exit: {run.Exit}; serial: {run.Serial.Length} bytes, ends \"{Tail(run.Serial)}\"; " +
                         $"RSS +{run.PeakRssGrowthBytes >> 20} MiB; Stop {run.StopTook.TotalMilliseconds:F0} ms");
        HostileGuest.AssertContained(run);
        return run;
    }

    private static string Tail(string s) => s.Length <= 40 ? s : s[^40..];

    private static void AssertFinished(HostileRun run, string expectedOutputEnd = "OK\n")
    {
        Assert.Equal(MachineExitKind.GuestExit, run.Exit.Kind);
        Assert.Equal(HostileRun.Finished, run.Exit.Status);
        Assert.EndsWith(expectedOutputEnd, run.Serial);
    }

    /// <summary>Every port, each access size, all-ones, zero and 0x80, then reads of each size. Accesses that
    /// reach ports 0xF4-0xF7 (isa-debug-exit: it ends the VM, as it should) or 0x64 (the i8042's command port, whose
    /// pulse commands reset the PC) are left out here: every value of those is swept in Vessel.Devices.Tests'
    /// RegisterSweepTests.</summary>
    [Fact]
    public void Every_port_with_extreme_values()
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            var loop = a.CreateLabel();
            var next = a.CreateLabel();
            a.xor(edx, edx);
            a.Label(ref loop);
            foreach (var (skipped, length) in new (int, int)[] { (0xF4, 4), (0x64, 1) })
            {
                a.lea(eax, __[edx - (skipped - 3)]); // an access of up to 4 bytes from 3 ports below reaches it
                a.cmp(eax, length + 2);
                a.jbe(next);
            }
            a.mov(eax, 0xFFFF_FFFF);
            a.@out(dx, al);
            a.@out(dx, ax);
            a.@out(dx, eax);
            a.xor(eax, eax);
            a.@out(dx, al);
            a.@out(dx, ax);
            a.@out(dx, eax);
            a.mov(eax, 0x80);
            a.@out(dx, al);
            a.@in(al, dx);
            a.@in(ax, dx);
            a.@in(eax, dx);
            a.Label(ref next);
            a.inc(edx);
            a.cmp(edx, 0x1_0000);
            a.jb(loop);
        }));
        AssertFinished(run);
    }

    /// <summary>Every register of the local APIC page and every I/O APIC select value written with all ones
    /// and zero and read back, pc-testdev's memory window at its edges, and MMIO where nothing is. The ICR
    /// writes send IPIs (all-ones: ExtINT to all but self; zero: vector 0 to APIC 0), hence a run with an AP.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Every_mmio_register_with_extreme_values(int vcpus)
    {
        var run = RunAndReport(vcpus, HostileGuest.Kernel(a =>
        {
            var apic = a.CreateLabel();
            a.mov(esi, 0xFEE0_0000);
            a.xor(ecx, ecx);
            a.Label(ref apic);
            a.mov(eax, 0xFFFF_FFFF);
            a.mov(__dword_ptr[esi + ecx], eax);
            a.mov(eax, __dword_ptr[esi + ecx]);
            a.mov(__dword_ptr[esi + ecx], 0);
            a.mov(eax, __dword_ptr[esi + ecx]);
            a.add(ecx, 0x10);
            a.cmp(ecx, 0x1000);
            a.jb(apic);

            var ioApic = a.CreateLabel();
            a.mov(esi, 0xFEC0_0000);
            a.xor(ecx, ecx);
            a.Label(ref ioApic);
            a.mov(__dword_ptr[esi], ecx);
            a.mov(__dword_ptr[esi + 0x10], 0xFFFF_FFFF);
            a.mov(eax, __dword_ptr[esi + 0x10]);
            a.mov(__dword_ptr[esi + 0x10], 0);
            a.mov(eax, __dword_ptr[esi + 0x10]);
            a.mov(__dword_ptr[esi + 0x20], 0xFFFF_FFFF);  // no register there
            a.inc(ecx);
            a.cmp(ecx, 0x100);
            a.jb(ioApic);

            foreach (uint address in new uint[] { 0xFF00_0000, 0xFF00_FFFC, 0xFF00_FFFE, 0xFF00_FFFF, 0xFF01_0000,
                         0x0200_0000, 0x7FFF_FFFC, 0xC000_0000, 0xE000_0000, 0xFED0_0000, 0xFFFF_FFFC })
            {
                a.mov(esi, address);
                a.mov(__dword_ptr[esi], 0xFFFF_FFFF);
                a.mov(eax, __dword_ptr[esi]);
                a.mov(__word_ptr[esi], 0);
                a.mov(ax, __word_ptr[esi]);
                a.mov(__byte_ptr[esi], 0x80);
                a.mov(al, __byte_ptr[esi]);
            }
        }));
        AssertFinished(run);
    }

    /// <summary>x2APIC mode, then every MSR of the x2APIC range read and written with all ones and zero: the
    /// ones the architecture refuses raise #GP (counted; the guest resumes after the instruction), the others
    /// take the value as the register allows.</summary>
    [Fact]
    public void Every_x2apic_msr_with_extreme_values()
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            a.mov(ecx, 0x1B);                       // IA32_APIC_BASE: enable, x2APIC
            a.rdmsr();
            a.or(eax, 0xC00);
            a.wrmsr();
            var msr = a.CreateLabel();
            a.mov(esi, 0x800);
            a.Label(ref msr);
            foreach (var (high, low) in new (uint, uint)[] { (0xFFFF_FFFF, 0xFFFF_FFFF), (0, 0xFFFF_FFFF), (0, 0) })
            {
                a.mov(ecx, esi);
                a.mov(eax, low);
                a.mov(edx, high);
                a.wrmsr();
                a.mov(ecx, esi);
                a.rdmsr();
            }
            a.inc(esi);
            a.cmp(esi, 0x900);
            a.jb(msr);
            a.mov(eax, __dword_ptr[HostileGuest.GpCount]);
            a.mov(ebx, eax);                        // print the #GP count (16 bits) in hex
            HostileGuest.Print(a, "GP ");
            foreach (int shift in new[] { 12, 8, 4, 0 })
            {
                var digit = a.CreateLabel();
                a.mov(eax, ebx);
                a.shr(eax, (byte)shift);
                a.and(al, 0xF);
                a.add(al, (byte)'0');
                a.cmp(al, (byte)'9');
                a.jbe(digit);
                a.add(al, 7);
                a.Label(ref digit);
                a.@out(dx, al);
            }
            HostileGuest.Print(a, "\n");
        }, resumeAfterGp: true));
        AssertFinished(run);
        var count = System.Text.RegularExpressions.Regex.Match(run.Serial, "GP ([0-9A-F]{4})\n");
        Assert.True(count.Success, run.Serial);
        int refusals = Convert.ToInt32(count.Groups[1].Value, 16);
        output.WriteLine($"{refusals} of 1536 x2APIC MSR accesses raised #GP");
        Assert.InRange(refusals, 1, 1535);              // reserved MSRs and bits refuse; real registers take values
    }

    /// <summary>The CMOS clock set to the last second of year 9999 rolls over as the chip does (year 00, century
    /// byte 99); a LAPIC one-shot of 0xffffffff x 128 still counts; a TSC deadline 2^64 - 16 does not fire;
    /// the PIT takes every mode with counts 0 and 1.</summary>
    [Fact]
    public void Absurd_clock_and_timer_values()
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            void Cmos(byte index, byte value)
            {
                a.mov(al, index);
                a.@out(0x70, al);
                a.mov(al, value);
                a.@out(0x71, al);
            }
            void PrintCmosHex(char tag, byte index)
            {
                a.mov(al, index);
                a.@out(0x70, al);
                a.@in(al, 0x71);
                a.mov(bl, al);
                a.mov(dx, 0x3F8);
                a.mov(al, (byte)tag);
                a.@out(dx, al);
                a.mov(al, bl);
                a.shr(al, 4);
                a.add(al, (byte)'0');
                a.@out(dx, al);
                a.mov(al, bl);
                a.and(al, 0xF);
                a.add(al, (byte)'0');
                a.@out(dx, al);
            }
            HostileGuest.Com1Reset(a);
            Cmos(0x0B, 0x82);                       // SET, BCD, 24-hour
            foreach (var (index, value) in new (byte, byte)[] { (0, 0x59), (2, 0x59), (4, 0x23), (7, 0x31), (8, 0x12), (9, 0x99), (0x32, 0x99) })
                Cmos(index, value);
            Cmos(0x0B, 0x02);
            var wait = a.CreateLabel();
            var rolled = a.CreateLabel();
            a.mov(ecx, 20_000_000);                 // the second ends within about a second of guest time
            a.Label(ref wait);
            a.mov(al, 0);
            a.@out(0x70, al);
            a.@in(al, 0x71);
            a.cmp(al, 0x59);
            a.jne(rolled);
            a.dec(ecx);
            a.jnz(wait);
            a.Label(ref rolled);
            PrintCmosHex('C', 0x32);
            PrintCmosHex('Y', 0x09);
            PrintCmosHex('M', 0x08);
            PrintCmosHex('D', 0x07);

            a.mov(esi, 0xFEE0_0000);
            a.mov(__dword_ptr[esi + 0xF0], 0x1FF);  // software enable
            a.mov(__dword_ptr[esi + 0x3E0], 0xA);   // divide by 128
            a.mov(__dword_ptr[esi + 0x320], 0x40);  // one-shot, vector 0x40
            a.mov(__dword_ptr[esi + 0x380], 0xFFFF_FFFF);
            a.mov(eax, __dword_ptr[esi + 0x390]);
            a.shr(eax, 28);
            a.add(al, (byte)'0');
            a.mov(bl, al);
            HostileGuest.Print(a, " L");
            a.mov(al, bl);
            a.@out(dx, al);                         // 'F'-'0' ... prints '?' (0x3F) when the count's top nibble is 0xF

            a.mov(__dword_ptr[esi + 0x320], 0x40041); // TSC-deadline mode, vector 0x41
            a.mov(ecx, 0x6E0);
            a.mov(eax, 0xFFFF_FFF0);
            a.mov(edx, 0xFFFF_FFFF);
            a.wrmsr();
            var spin = a.CreateLabel();
            a.mov(ecx, 200_000);
            a.Label(ref spin);
            a.pause();
            a.dec(ecx);
            a.jnz(spin);
            a.mov(eax, __dword_ptr[esi + 0x220]);   // IRR bits 64-95: vectors 0x40 and 0x41
            a.and(eax, 3);
            a.add(al, (byte)'0');
            a.mov(bl, al);
            HostileGuest.Print(a, " I");
            a.mov(al, bl);
            a.@out(dx, al);

            for (int mode = 0; mode < 8; mode++)
                foreach (ushort count in new ushort[] { 0, 1, 0xFFFF })
                    for (int channel = 0; channel < 3; channel++)
                    {
                        a.mov(al, (byte)((channel << 6) | 0x30 | (mode << 1)));
                        a.@out(0x43, al);
                        a.mov(al, (byte)count);
                        a.@out((byte)(0x40 + channel), al);
                        a.mov(al, (byte)(count >> 8));
                        a.@out((byte)(0x40 + channel), al);
                        a.@in(al, (byte)(0x40 + channel));
                    }
            HostileGuest.Print(a, "\n");
        }));
        AssertFinished(run);
        Assert.Contains("C99Y00M01D01", run.Serial);   // 9999-12-31 23:59:59 + 1 s, as the MC146818 shows it
        Assert.Contains(" L?", run.Serial);            // the one-shot still counts from near 0xffffffff
        Assert.Contains(" I0", run.Serial);            // neither timer requested its vector
    }

    /// <summary>Paging turned on with CR3 pointing where there is no RAM. A PC reads all ones there, and the
    /// guest ends in its own exception handler or a triple fault; either way the VM ends as a PC would.</summary>
    [Theory]
    [InlineData(0xE000_0000u)]
    [InlineData(0x0200_0000u)]
    [InlineData(0xFFFF_F000u)]
    public void Page_tables_outside_ram(uint pageDirectory)
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            a.mov(eax, pageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);
            a.nop();
        }));
        Assert.True(run.Exit.Kind is MachineExitKind.TripleFault || run.Vector is not null || run.Exit.Status == HostileRun.Finished,
            $"ended {run.Exit}");
    }

    /// <summary>A jump to where there is no RAM: a PC fetches all ones (FF FF: an invalid opcode, #UD) or, from
    /// MMIO with a device behind it, whatever the device reads. The guest's handler or a triple fault ends it.</summary>
    [Theory]
    [InlineData(0xE000_0000u)]
    [InlineData(0x0200_0000u)]
    [InlineData(0xFFFF_FFF0u)]
    [InlineData(0xFEC0_0000u)]
    public void Execution_outside_ram(uint target)
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            a.mov(eax, target);
            a.jmp(eax);
        }));
        Assert.True(run.Exit.Kind is MachineExitKind.TripleFault || run.Vector is not null, $"ended {run.Exit}");
        output.WriteLine(run.Vector is { } v ? $"vector {v}" : "triple fault");
    }

    /// <summary>A guest storming the VMM (a LAPIC periodic timer at its fastest, the PIT at count 1, and port
    /// exits without end) is stopped from outside promptly.</summary>
    [Fact]
    public void A_storming_guest_stops_promptly()
    {
        var run = RunAndReport(HostileGuest.Kernel(a =>
        {
            a.mov(esi, 0xFEE0_0000);
            a.mov(__dword_ptr[esi + 0xF0], 0x1FF);
            a.mov(__dword_ptr[esi + 0x3E0], 0xB);    // divide by 1
            a.mov(__dword_ptr[esi + 0x320], 0x2_0020); // periodic, vector 0x20 (IF stays 0: it fires, it is not taken)
            a.mov(__dword_ptr[esi + 0x380], 1);
            a.mov(al, 0x34);
            a.@out(0x43, al);                        // PIT channel 0, mode 2, count 1
            a.mov(al, 1);
            a.@out(0x40, al);
            a.xor(al, al);
            a.@out(0x40, al);
            var forever = a.CreateLabel();
            a.Label(ref forever);
            a.mov(al, 0x80);
            a.@out(0x80, al);
            a.jmp(forever);
        }), TimeSpan.FromMilliseconds(500));
        Assert.Equal(MachineExitKind.Stopped, run.Exit.Kind);
    }
}
