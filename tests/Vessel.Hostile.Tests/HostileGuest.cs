using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Fuzz;
using Vessel.Vmm;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Hostile.Tests;

/// <summary>What a hostile guest's run came to: how the VM ended, what it printed on COM1, the peak growth of
/// this process's resident memory while it ran, and how long <see cref="Machine.Stop"/> took.</summary>
public sealed record HostileRun(MachineExit Exit, string Serial, long PeakRssGrowthBytes, TimeSpan StopTook)
{
    /// <summary>isa-debug-exit status of a guest that reached its end: (ExitValue &lt;&lt; 1) | 1.</summary>
    public const int Finished = (HostileGuest.FinishedValue << 1) | 1;

    /// <summary>The exception vector a guest took, if it ended through <see cref="HostileGuest"/>'s handlers.</summary>
    public int? Vector => Exit.Kind == MachineExitKind.GuestExit && ((Exit.Status >> 1) & 0x80) != 0 ? (Exit.Status >> 1) & 0x1F : null;
}

/// <summary>Tiny 32-bit guests for the hostile tests, assembled with Iced into an ELF32 kernel (flat protected mode,
/// entered at 1 MiB) with an IDT whose 32 exception handlers print "#" and the vector and end the VM through
/// isa-debug-exit with 0x80 | vector. A body that finishes prints "OK" and exits with <see cref="FinishedValue"/>.
/// The VM runs on the emu backend with the standard PC devices and 32 MiB of RAM.</summary>
public static class HostileGuest
{
    public const byte FinishedValue = 0x21;
    public const ulong RamBytes = 32 << 20;
    /// <summary>The bound each test states for this process's resident memory growth during one hostile VM.</summary>
    public const long RssBoundBytes = 256L << 20;
    public static readonly TimeSpan StopBound = TimeSpan.FromSeconds(10);

    private const ulong CodeAt = 0x100000, StubsAt = 0x180000, CommonAt = StubsAt + 0x100, IdtAt = 0x190000, IdtrAt = IdtAt + 0x100;

    /// <summary>Where the handlers count the #GPs they resumed from (with <c>resumeAfterGp</c>).</summary>
    public const uint GpCount = 0x19_0200;

    /// <param name="resumeAfterGp">#GP from a 2-byte instruction (RDMSR/WRMSR) is counted at <see cref="GpCount"/>
    /// and the guest goes on after it, so a sweep can meet every refusal the hardware makes.</param>
    public static byte[] Kernel(Action<Assembler> body, bool resumeAfterGp = false)
    {
        var a = new Assembler(32);
        a.mov(esp, 0x9_0000);
        a.lidt(__[(uint)IdtrAt]);
        body(a);
        Com1Reset(a);
        Print(a, "OK\n");
        a.mov(al, FinishedValue);
        a.@out(0xF4, al);
        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        byte[] code = Assemble(a, CodeAt);

        var stubs = new byte[0x100 + 0x200];
        for (int v = 0; v < 32; v++)
        {
            var s = new Assembler(32);
            s.mov(bl, (byte)v);
            s.jmp(CommonAt);
            byte[] stub = Assemble(s, StubsAt + (ulong)v * 8);
            Assert.True(stub.Length <= 8);
            stub.CopyTo(stubs, v * 8);
        }
        var common = new Assembler(32);
        if (resumeAfterGp)
        {
            var fatal = common.CreateLabel();
            common.cmp(bl, 13);
            common.jne(fatal);
            common.inc(__dword_ptr[GpCount]);
            common.add(esp, 4);                     // the error code
            common.add(__dword_ptr[esp], 2);        // past the RDMSR/WRMSR
            common.iretd();
            common.Label(ref fatal);
        }
        Com1Reset(common);
        common.mov(dx, 0x3F8);
        common.mov(al, (byte)'#');
        common.@out(dx, al);
        common.mov(al, bl);
        common.add(al, (byte)'@');                  // vector 0 is '@', 6 is 'F', 14 is 'N'
        common.@out(dx, al);
        common.mov(al, bl);
        common.or(al, 0x80);
        common.@out(0xF4, al);
        common.hlt();
        Assemble(common, CommonAt).CopyTo(stubs, 0x100);

        var idt = new byte[0x208];
        for (int v = 0; v < 32; v++)
        {
            uint handler = (uint)(StubsAt + (ulong)v * 8);
            var gate = idt.AsSpan(v * 8);
            BinaryPrimitives.WriteUInt16LittleEndian(gate, (ushort)handler);
            BinaryPrimitives.WriteUInt16LittleEndian(gate[2..], 0x08);
            gate[5] = 0x8E;                         // present, DPL 0, 32-bit interrupt gate
            BinaryPrimitives.WriteUInt16LittleEndian(gate[6..], (ushort)(handler >> 16));
        }
        BinaryPrimitives.WriteUInt16LittleEndian(idt.AsSpan(0x100), 32 * 8 - 1);
        BinaryPrimitives.WriteUInt32LittleEndian(idt.AsSpan(0x102), (uint)IdtAt);

        return new ElfBuilder(is64: false) { Entry = CodeAt }.Add(CodeAt, code).Add(StubsAt, stubs).Add(IdtAt, idt).Build();
    }

    /// <summary>COM1 back to 8N1, no loopback, no interrupts: a sweep may have left it in any state.</summary>
    public static void Com1Reset(Assembler a)
    {
        foreach (var (port, value) in new (ushort, byte)[] { (0x3FB, 0x03), (0x3F9, 0x00), (0x3FC, 0x00) })
        {
            a.mov(dx, port);
            a.mov(al, value);
            a.@out(dx, al);
        }
    }

    public static void Print(Assembler a, string text)
    {
        a.mov(dx, 0x3F8);
        foreach (char c in text)
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
    }

    /// <summary>Boots <paramref name="kernel"/> and waits up to <paramref name="timeout"/> for it to end; a guest
    /// still running then is stopped (and <see cref="HostileRun.Exit"/> says Stopped).</summary>
    public static HostileRun Run(byte[] kernel, TimeSpan timeout, int vcpus = 1)
    {
        var serial = new LockedStream();
        long baseline = ResidentBytes();
        long peak = baseline;
        using var sampling = new CancellationTokenSource();
        var sampler = new Thread(() =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentBytes());
                Thread.Sleep(10);
            }
        }) { IsBackground = true };
        sampler.Start();
        MachineExit exit;
        TimeSpan stopTook;
        using (var hypervisor = new EmuHypervisor())
        using (var machine = new MachineBuilder(hypervisor, new MachineConfig
               { MemoryBytes = RamBytes, VcpuCount = vcpus, Kernel = kernel, SerialOutput = serial }).Build())
        {
            machine.Start();
            machine.WaitForExit(timeout);
            var clock = Stopwatch.StartNew();
            machine.Stop();
            stopTook = clock.Elapsed;
            exit = machine.Exit!;
        }
        sampling.Cancel();
        sampler.Join();
        peak = Math.Max(peak, ResidentBytes());
        return new HostileRun(exit, serial.Text, peak - baseline, stopTook);
    }

    /// <summary>The checks every hostile run must pass: the VM did not fail, resident memory stayed within the
    /// bound, and Stop returned promptly: it waits only for each vCPU's next block boundary (under 1 ms on a quiet
    /// machine, ~0.4 s seen at load 58), so the bound is 10 s, which no load average short of a stalled machine
    /// reaches while a stop that waits on the guest (its 5-minute timeout) or never returns still fails.</summary>
    public static void AssertContained(HostileRun run)
    {
        Assert.True(run.Exit.Kind != MachineExitKind.Failed, $"the VMM failed: {run.Exit.Reason}\nserial: {run.Serial}");
        Assert.True(run.PeakRssGrowthBytes < RssBoundBytes, $"resident memory grew by {run.PeakRssGrowthBytes >> 20} MiB");
        Assert.True(run.StopTook < StopBound, $"Stop took {run.StopTook.TotalMilliseconds:F0} ms");
    }

    private static byte[] Assemble(Assembler a, ulong address) => GuestCode.Assemble(a, address);

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }

    /// <summary>COM1's output, written by a vCPU thread and read by the test.</summary>
    private sealed class LockedStream : Stream
    {
        private readonly MemoryStream _inner = new();
        public string Text { get { lock (_inner) return Encoding.Latin1.GetString(_inner.ToArray()); } }
        public override void Write(byte[] buffer, int offset, int count) { lock (_inner) _inner.Write(buffer, offset, count); }
        public override void Write(ReadOnlySpan<byte> buffer) { lock (_inner) _inner.Write(buffer); }
        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
