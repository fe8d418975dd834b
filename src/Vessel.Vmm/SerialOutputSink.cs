using Microsoft.Extensions.Logging;

namespace Vessel.Vmm;

/// <summary>COM1's transmitter into a host stream, through a bounded buffer that a thread of its own writes out.
/// A vCPU never waits on the host stream itself: it waits only while the buffer is full (a reader slower than
/// the guest), and stops waiting as soon as the machine is stopping, after which output is dropped and counted.
/// So a blocked reader can neither stall a stop nor make the VMM buffer without bound. A console that went
/// away (closed pipe) must not crash the vCPU that printed: the first failure is logged and later output is
/// dropped.</summary>
internal sealed partial class SerialOutputSink : IDisposable
{
    public const int BufferSize = 16 * 1024;

    /// <summary>How often a vCPU waiting on a full buffer looks whether the machine is stopping.</summary>
    private static readonly TimeSpan StopPoll = TimeSpan.FromMilliseconds(50);

    private static readonly TimeSpan DrainStall = TimeSpan.FromMilliseconds(100);

    private readonly Stream? _output;
    private readonly Func<bool> _stopping;
    private readonly ILogger _logger;
    private readonly object _gate = new(); // a Monitor: both sides wait on it
    private readonly byte[] _ring = new byte[BufferSize];
    private int _head, _count;
    private bool _writerWaiting, _producerWaiting, _closing, _abandoned;
    private volatile bool _broken;
    private long _dropped;
    private Thread? _writer;

    /// <param name="output">null discards all output</param>
    /// <param name="stopping">true once the machine is stopping</param>
    public SerialOutputSink(Stream? output, Func<bool> stopping, ILogger logger)
    {
        _output = output;
        _stopping = stopping;
        _logger = logger;
        _broken = output is null;
    }

    /// <summary>Bytes dropped because the machine was stopping with the buffer full, or the output broke.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Transmit(byte value)
    {
        if (_broken) return;
        lock (_gate)
        {
            while (_count == _ring.Length)
            {
                if (_closing || _broken || _stopping())
                {
                    _dropped++;
                    return;
                }
                _producerWaiting = true;
                Monitor.Wait(_gate, StopPoll);
            }
            _ring[(_head + _count) % _ring.Length] = value;
            _count++;
            if (_writer is null) StartWriter();
            else if (_writerWaiting) Monitor.Pulse(_gate);
        }
    }

    /// <summary>Writes out what is buffered for as long as the writer makes progress, then ends the writer.
    /// A reader that does not read costs at most <see cref="DrainStall"/> here, never a hang.</summary>
    public void Dispose()
    {
        Thread? writer;
        lock (_gate)
        {
            _closing = true;
            Monitor.PulseAll(_gate);
            writer = _writer;
        }
        if (writer is not null)
        {
            int last = int.MaxValue;
            while (!writer.Join(DrainStall))
            {
                int left;
                lock (_gate) left = _count;
                if (left >= last) break;    // no progress: the reader is stuck; abandon the background writer
                last = left;
            }
            lock (_gate)
            {
                // A writer still stuck in Write must not touch the ring when (if ever) it returns.
                _abandoned = true;
                _dropped += _count;
                _count = 0;
            }
        }
        if (Dropped > 0) LogDropped(_logger, Dropped);
    }

    private void StartWriter()
    {
        _writer = new Thread(WriteOut) { Name = "serial output", IsBackground = true };
        _writer.Start();
    }

    private void WriteOut()
    {
        var chunk = new byte[4096];
        while (true)
        {
            int n;
            lock (_gate)
            {
                while (_count == 0)
                {
                    if (_closing) return;
                    _writerWaiting = true;
                    Monitor.Wait(_gate);
                    _writerWaiting = false;
                }
                n = Math.Min(Math.Min(_count, chunk.Length), _ring.Length - _head);
                Array.Copy(_ring, _head, chunk, 0, n);
            }
            bool ok = Write(chunk.AsSpan(0, n));
            lock (_gate)
            {
                if (_abandoned) return;
                _head = (_head + n) % _ring.Length;
                _count -= n;
                if (!ok)
                {
                    _dropped += _count;
                    _count = 0;
                }
                if (_producerWaiting)
                {
                    _producerWaiting = false;
                    Monitor.PulseAll(_gate);
                }
                if (!ok) return;
            }
        }
    }

    private bool Write(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _output!.Write(bytes);
            _output.Flush();
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            _broken = true;
            LogBroken(_logger, ex.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "serial output failed ({Reason}); further guest output is dropped")]
    private static partial void LogBroken(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} bytes of guest serial output were dropped (the VM was stopping, or the output was stuck or broken)")]
    private static partial void LogDropped(ILogger logger, long count);
}
