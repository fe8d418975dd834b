using System.Buffers.Binary;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Hvc;

/// <summary>Where the guest's console output goes (a terminal, a file, a test's buffer). Called on the device's
/// worker thread, never a vCPU; it may block (the guest's transmit queue then waits).</summary>
public delegate void ConsoleOutput(ReadOnlySpan<byte> data);

/// <summary>virtio-console's state: queues, and host input accepted but not yet given to the guest.</summary>
public sealed record VirtioConsoleState(ulong NegotiatedFeatures, bool NeedsReset, IReadOnlyList<SplitQueueState?> Queues,
    byte[] PendingInput);

/// <summary>
/// virtio-console (virtio 1.x, 5.3) with one port and no multiport (Linux's hvc0): queue 0 carries host input to the
/// guest, queue 1 the guest's output to <see cref="ConsoleOutput"/>. Host input waits in a bounded buffer until the
/// driver offers receive buffers; while it is full <see cref="Receive"/> accepts nothing more, so the caller
/// (the console thread) stops reading its input, as it does for COM1.
/// </summary>
public sealed class VirtioConsole : QueuedVirtioDevice
{
    public const ushort QueueSize = 64;
    public const int ReceiveQueue = 0, TransmitQueue = 1;
    public const int DefaultInputCapacity = 4096;

    private readonly ConsoleOutput _output;
    private readonly object _inputLock = new();
    private readonly byte[] _input;
    private int _inputHead, _inputCount;

    public VirtioConsole(ConsoleOutput output, int inputCapacity = DefaultInputCapacity) : base("console")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputCapacity, 1);
        _output = output;
        _input = new byte[inputCapacity];
    }

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Console;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;

    public override int QueueCount => 2;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;

    /// <summary>struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr (only max_nr_ports means anything
    /// without F_SIZE, F_MULTIPORT and F_EMERG_WRITE).</summary>
    public override int ConfigSize => 12;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[12];
        config.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(config[4..], 1);
        CopyConfig(config, offset, data);
    }

    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public VirtioConsoleState State
    {
        get
        {
            byte[] pending;
            lock (_inputLock)
            {
                pending = new byte[_inputCount];
                for (int i = 0; i < _inputCount; i++)
                    pending[i] = _input[(_inputHead + i) % _input.Length];
            }
            return new VirtioConsoleState(NegotiatedFeatures, NeedsReset, QueueStates(), pending);
        }
    }

    /// <summary>Room for host input right now.</summary>
    public bool CanAcceptInput
    {
        get { lock (_inputLock) return _inputCount < _input.Length; }
    }

    public int PendingInputCount
    {
        get { lock (_inputLock) return _inputCount; }
    }

    /// <summary>Takes as much of <paramref name="data"/> as the input buffer holds and returns how many bytes that
    /// was; the caller keeps the rest and retries after <see cref="WaitForInputSpace"/>.</summary>
    public int Receive(ReadOnlySpan<byte> data)
    {
        int accepted;
        lock (_inputLock)
        {
            accepted = Math.Min(data.Length, _input.Length - _inputCount);
            for (int i = 0; i < accepted; i++)
                _input[(_inputHead + _inputCount + i) % _input.Length] = data[i];
            _inputCount += accepted;
        }
        if (accepted > 0)
            Wake();
        return accepted;
    }

    /// <summary>Waits until the input buffer has room (true) or <paramref name="timeout"/> passes (false).</summary>
    public bool WaitForInputSpace(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_inputLock)
        {
            while (_inputCount == _input.Length)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    return false;
                Monitor.Wait(_inputLock, left);
            }
            return true;
        }
    }

    protected override int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain)
    {
        if (queueIndex == ReceiveQueue)
            DeliverInput(queue, chain);
        else
            Transmit(queue, chain);
        return -1;
    }

    private void DeliverInput(SplitQueue queue, DescriptorChain chain)
    {
        lock (_inputLock)
        {
            // Input without a receive buffer waits for the driver's next one.
            while (_inputCount > 0 && TryTakeReceiveBuffer(queue, chain, "console receive buffer"))
            {
                int n = (int)Math.Min((ulong)_inputCount, chain.WritableBytes);
                int first = Math.Min(n, _input.Length - _inputHead);
                chain.WriteTo(0, _input.AsSpan(_inputHead, first), queue.Memory);
                if (n > first)
                    chain.WriteTo((ulong)first, _input.AsSpan(0, n - first), queue.Memory);
                _inputHead = (_inputHead + n) % _input.Length;
                _inputCount -= n;
                Monitor.PulseAll(_inputLock);
                Complete(queue, ReceiveQueue, chain.Head, (uint)n);
            }
        }
    }

    private void Transmit(SplitQueue queue, DescriptorChain chain)
    {
        do
        {
            while (queue.TryPop(chain) == PopResult.Chain)
            {
                var cursor = chain.Cursor(writable: false, 0, chain.ReadableBytes);
                while (cursor.MoveNext())
                {
                    try
                    {
                        _output(cursor.Current);
                    }
                    catch (IOException)
                    {
                        // The host side went away (closed terminal or pipe): the guest's output is dropped, not its device.
                    }
                }
                Complete(queue, TransmitQueue, chain.Head, 0);
            }
            if (queue.Violation != null)
                return;
        } while (queue.ArmNotification());
    }
}
