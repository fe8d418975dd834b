using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Vessel.Cli.Tests.Pty;

namespace Vessel.Cli.Tests;

/// <summary>The console's two bounds: input a guest does not read is not queued without limit, and output a
/// reader does not take neither holds up a stop nor piles up in the VMM.</summary>
public class ConsoleBoundsTests
{
    /// <summary>An endless stdin that counts what was taken from it.</summary>
    private sealed class EndlessInput : Stream
    {
        private long _taken;
        public long Taken => Interlocked.Read(ref _taken);

        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)'y');
            Interlocked.Add(ref _taken, count);
            return count;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A stdout whose reader never reads: every write blocks until the test ends.</summary>
    private sealed class StuckOutput : Stream
    {
        private readonly ManualResetEventSlim _release = new();
        private int _writes;
        public int Writes => Volatile.Read(ref _writes);

        public void Release() => _release.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Increment(ref _writes);
            _release.Wait();
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static Thread Background(Action action)
    {
        var thread = new Thread(() => action()) { IsBackground = true, Name = "vessel run" };
        thread.Start();
        return thread;
    }

    [Fact]
    public void InputTheGuestDoesNotReadIsNotReadFromTheHost()
    {
        using var kernel = CliRunner.File(ConsoleGuests.Flood());
        var input = new EndlessInput();
        using var stop = new CancellationTokenSource();
        var host = new CliHost { HandleSignals = false, Stop = stop.Token };
        var run = Background(() => VesselCli.Run(["run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16"],
            input, Stream.Null, new MemoryStream(), host));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (input.Taken == 0 && DateTime.UtcNow < deadline) Thread.Sleep(10); // start-up, however loaded
        // The pump fills the queue at whatever pace the machine's load allows, then stops: wait until a whole
        // second passes without a read (an unbounded pump never does, and the bound below fails).
        long taken = input.Taken;
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(1000);
            long now = input.Taken;
            if (now == taken) break;
            taken = now;
        }
        // The UART's FIFO (16) and host queue (1024) and one read (256) held by the pump: nothing more.
        Assert.InRange(taken, 1, Devices.Uart16550.FifoSize + Devices.Uart16550.HostQueueSize + 256);
        Assert.Equal(taken, input.Taken);
        stop.Cancel();
        Assert.True(run.Join(TimeSpan.FromSeconds(10)));
    }

    /// <summary>The guest floods COM1 into a stdout that never drains: a stop still ends the VM (the sink gives up on
    /// a writer that makes no progress for 100 ms; ~0.2 s on a quiet machine). The bound is generous because a
    /// loaded machine may delay any thread by seconds; a stop that waited on the output would never end.</summary>
    [Fact]
    public void AStuckOutputDoesNotHoldUpTheStop()
    {
        using var kernel = CliRunner.File(ConsoleGuests.Flood());
        var output = new StuckOutput();
        var error = new MemoryStream();
        using var stop = new CancellationTokenSource();
        var host = new CliHost { HandleSignals = false, Stop = stop.Token };
        int status = -1;
        var run = Background(() => status = VesselCli.Run(["run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16", "--log-level", "info"],
            Stream.Null, output, error, host));
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (output.Writes == 0 && DateTime.UtcNow < deadline) Thread.Sleep(10);
            Assert.True(output.Writes > 0, "the guest never printed");
            Thread.Sleep(500); // the buffer fills and the vCPU waits on it
            stop.Cancel();
            Assert.True(run.Join(TimeSpan.FromSeconds(30)), "the stop waited on the stuck output");
            Assert.Equal(0, status);
            Assert.Contains("bytes of guest serial output were dropped", System.Text.Encoding.UTF8.GetString(error.ToArray()));
        }
        finally
        {
            output.Release();
        }
    }

    /// <summary>Output is buffered, not lost: a guest that prints far more than the buffer and exits at once
    /// has every byte on stdout, in order, when vessel returns.</summary>
    [Fact]
    public void EverythingPrintedBeforeTheGuestEndsIsWrittenOut()
    {
        const int Count = 200_000;
        var a = new Assembler(32);
        var loop = a.CreateLabel();
        a.mov(dx, (ushort)0x3f8);
        a.mov(ecx, Count);
        a.mov(bl, (byte)'a');
        a.Label(ref loop);
        a.mov(al, bl);
        a.@out(dx, al);
        a.inc(bl);
        a.cmp(bl, (byte)'z' + 1);
        var noWrap = a.CreateLabel();
        a.jne(noWrap);
        a.mov(bl, (byte)'a');
        a.Label(ref noWrap);
        a.dec(ecx);
        a.jnz(loop);
        a.mov(dx, (ushort)0xf4);
        a.mov(al, 1);
        a.@out(dx, al);
        a.hlt();
        using var kernel = CliRunner.File(TinyElf.FromAssembler(a));
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16");
        Assert.Equal(3, result.ExitCode);
        string expected = string.Concat(Enumerable.Range(0, Count).Select(i => (char)('a' + i % 26)));
        Assert.Equal(expected, result.Stdout);
    }
}
