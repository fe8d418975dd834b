using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Vessel.Virtio.Net.Backends;

/// <summary>
/// User-mode networking without root through passt (Debian's `passt`): Vessel starts it as a child process
/// (`passt -f --fd N`) on one end of a Unix stream socketpair and exchanges Ethernet frames with it, each prefixed
/// by its length as a 32-bit big-endian number (qemu's `-netdev stream` framing). passt answers DHCP, NDP and DNS,
/// maps connections to the gateway address onto the host's loopback, and binds the hostfwd ports (`-t`/`-u`).
/// passt ends when its end of the socket closes, which the kernel does when Vessel exits on any path, kill -9
/// included: no socket file and no child process are left behind. Frames for the guest wait in the device's ring; while
/// the ring is full the reader stops reading, so passt meets a full socket and holds back (TCP segments that the
/// guest's slow receive would otherwise lose, each loss costing a retransmission timeout). The one exception: while the
/// device's worker itself waits for passt to read a frame from the guest, the reader keeps draining the socket and
/// drops what does not fit, so the two sides never wait for each other.
/// </summary>
public sealed partial class PasstBackend : INetBackend
{
    private const int LengthPrefix = 4;
    private static readonly TimeSpan StartupCheck = TimeSpan.FromMilliseconds(500);

    private readonly int _socket;
    private readonly Process _passt;
    private readonly ILogger _logger;
    private readonly byte[] _sendBuffer = new byte[LengthPrefix + NetFeatures.MaxFrameBytes];
    private readonly byte[] _receiveBuffer = new byte[4 * (LengthPrefix + NetFeatures.MaxFrameBytes)];
    private readonly List<string> _stderr = [];
    private Thread? _reader;
    private FrameRing? _ring;
    private volatile bool _disposed;
    private volatile bool _running; // past the start-up check: passt's words go to the log, not into the error
    private bool _sendFailed;

    private PasstBackend(int socket, Process passt, ILogger logger)
    {
        _socket = socket;
        _passt = passt;
        _logger = logger;
        _dropWhileSendWaits = () => _sendWaiting;
        Mtu = NetHostCalls.SetSendBuffer(socket, SendBufferBytes) / 2 - 64 >= LengthPrefix + EthernetHeader + StreamMtu
            ? StreamMtu
            : (ushort)0;
    }

    private readonly Func<bool> _dropWhileSendWaits;
    private volatile bool _sendWaiting;

    public string Description => $"passt (pid {_passt.Id})";

    public bool CarriesVnetHeader => false;

    /// <summary>The MTU offered to the guest: the largest whose frame, with its length prefix, crosses the socketpair
    /// as one piece (see <see cref="StreamMtu"/>), or 0 (the guest keeps 1500) if this socket cannot guarantee that.</summary>
    public ushort Mtu { get; }

    /// <summary>
    /// Not passt's own 65520. Debian 12's passt (0.0~git20230309.7c7625d) reads the stream with one non-blocking
    /// recv and, when that ends inside a frame, one blocking recv for the rest; if that second recv returns only part
    /// of the rest it drops what it has and loses the framing: the next bytes are taken as a length prefix, frames are
    /// misparsed, and the guest's TCP stream is reset (seen after ~7 MB of a guest-to-host stream at MTU 65520).
    /// passt fixed this upstream on 2024-07-26 (commit 57a21d2, "tap: Improve handling of partially received frames
    /// on qemu socket"). On a Unix stream socket Linux queues one send() of at most 32 KiB (plus a page's head) as a
    /// single buffer, whole or not at all (with MSG_DONTWAIT), and a reader's recv never ends inside one while
    /// passt's 8 MiB read buffer is larger than the socket's send buffer. So every frame of at most 32 KiB with its
    /// prefix reaches passt in one piece, and the guest's frames are 21 times larger than at 1500.
    /// (The resets seen in guest-to-host streams were another bug of the same passt, at any MTU: it resets a connection
    /// the guest opened after ~25 s when the host side has sent no data, waiting for an ACK of data it never sent;
    /// fixed upstream in 4e73e9b, 2023-03-27. Nothing on this side can help; a host peer that sends a byte avoids it.)
    /// </summary>
    public const ushort StreamMtu = 32768 - LengthPrefix - EthernetHeader;

    private const int EthernetHeader = 14;

    /// <summary>The send buffer asked for: Linux splits a send into buffers of at most half of it (less 64 bytes),
    /// so it must be well over twice the largest frame; the kernel doubles what it is given.</summary>
    private const int SendBufferBytes = 256 << 10;

    /// <summary>
    /// The send buffer asked for on passt's end before it starts (it sets none on a descriptor given with --fd, so the
    /// socket would keep net.core.wmem_default, about 208 KiB: six frames of 32 KiB). passt sends its frames for the
    /// guest in batches with MSG_DONTWAIT and drops every frame that does not fit; this passt then resends everything
    /// from the guest's last ACK, so a reader thread late by a few milliseconds (a loaded host) cost a 32 MiB download
    /// up to eight times its bytes in retransmissions (the guest's InOctets) and most of its throughput. 4 MiB (the
    /// kernel doubles it) holds a whole receive window of the guest's, as the device's ring does.
    /// </summary>
    public const int PasstSendBufferBytes = 4 << 20;

    /// <summary>passt builds every frame it sends, checksums included, and they cross only the socketpair.</summary>
    public bool ChecksumsVerified => true;

    /// <summary>Starts passt; throws <see cref="NetBackendException"/> when it is missing or exits at once (a port
    /// already taken, a bad address).</summary>
    public static unsafe PasstBackend Start(IReadOnlyList<HostForward> forwards, ILogger logger, string? passtPath = null)
    {
        string path = passtPath ?? FindInPath("passt")
            ?? throw new NetBackendException("--net user needs passt, which is not installed (Debian/Ubuntu package 'passt')");
        int* fds = stackalloc int[2];
        if (NetHostCalls.socketpair(NetHostCalls.AF_UNIX, NetHostCalls.SOCK_STREAM | NetHostCalls.SOCK_CLOEXEC, 0, fds) != 0)
            throw new NetBackendException($"--net user: socketpair failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        int ours = fds[0], theirs = fds[1];
        Process? passt = null;
        PasstBackend? backend = null;
        try
        {
            // Only passt's end is inherited (CLOEXEC cleared for the fork); ours stays close-on-exec.
            NetHostCalls.fcntl(theirs, NetHostCalls.F_SETFD, 0);
            NetHostCalls.RaiseSendBuffer(theirs, PasstSendBufferBytes);
            var start = new ProcessStartInfo(path)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "--foreground", "--quiet", "--stderr", "--fd", theirs.ToString(CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(a);
            foreach (var f in forwards)
            {
                start.ArgumentList.Add(f.Udp ? "-u" : "-t");
                start.ArgumentList.Add(f.PasstSpec);
            }
            try
            {
                passt = Process.Start(start) ?? throw new NetBackendException($"--net user: cannot start {path}");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new NetBackendException($"--net user: cannot start {path}: {e.Message}");
            }
            NetHostCalls.close(theirs);
            theirs = -1;
            passt.StandardInput.Close();
            var created = new PasstBackend(ours, passt, logger);
            backend = created;
            passt.ErrorDataReceived += (_, e) => created.OnPasstOutput(e.Data);
            passt.OutputDataReceived += (_, _) => { };
            passt.BeginErrorReadLine();
            passt.BeginOutputReadLine();
            if (passt.WaitForExit(StartupCheck))
            {
                passt.WaitForExit(); // flushes the stderr reader
                string said = backend.StderrText();
                int status = passt.ExitCode;
                throw new NetBackendException($"--net user: passt exited at start-up (status {status}){(said.Length > 0 ? ": " + said : "")}");
            }
            created._running = true;
            return backend;
        }
        catch
        {
            if (theirs >= 0) NetHostCalls.close(theirs);
            if (backend != null)
                backend.Dispose();
            else
            {
                NetHostCalls.close(ours);
                if (passt is { HasExited: false }) { passt.Kill(); passt.WaitForExit(); }
                passt?.Dispose();
            }
            throw;
        }
    }

    public void Start(FrameRing toGuest)
    {
        _ring = toGuest;
        _reader = new Thread(ReadFrames) { IsBackground = true, Name = "passt reader" };
        _reader.Start();
    }

    public void SetOffloads(ulong negotiatedFeatures) { }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (_disposed || _aborted || _sendFailed)
            return false;
        BinaryPrimitives.WriteUInt32BigEndian(_sendBuffer, (uint)frame.Length);
        frame.CopyTo(_sendBuffer.AsSpan(LengthPrefix));
        if (SendAll(_sendBuffer.AsSpan(0, LengthPrefix + frame.Length)))
            return true;
        if (!_disposed && !_aborted)
        {
            _sendFailed = true;
            LogPasstGone(_logger, Description);
        }
        return false;
    }

    /// <summary>Writes all of <paramref name="data"/> without blocking in the kernel: while passt's side is full, the
    /// reader is told to drain (and drop) instead of waiting for the guest, then this waits until passt reads.</summary>
    private unsafe bool SendAll(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = NetHostCalls.send(_socket, p + done, data.Length - done, NetHostCalls.MSG_DONTWAIT | NetHostCalls.MSG_NOSIGNAL);
                if (n >= 0)
                {
                    done += (int)n;
                    continue;
                }
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (errno == NetHostCalls.EINTR)
                    continue;
                if (errno != NetHostCalls.EAGAIN)
                    return false;
                _sendWaiting = true;
                try
                {
                    if (!WaitWritable())
                        return false;
                }
                finally
                {
                    _sendWaiting = false;
                }
            }
        }
        return true;
    }

    private unsafe bool WaitWritable()
    {
        NetHostCalls.PollFd poll = new() { Fd = _socket, Events = NetHostCalls.POLLOUT };
        while (!_aborted && !_disposed)
        {
            poll.Revents = 0;
            int ready = NetHostCalls.poll(&poll, 1, 200);
            if (ready > 0)
                return true; // writable, or an error the next send reports
            if (ready < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != NetHostCalls.EINTR)
                return false;
        }
        return false;
    }

    public void Abort()
    {
        _aborted = true;
        NetHostCalls.shutdown(_socket, NetHostCalls.SHUT_RDWR);
    }

    private volatile bool _aborted;

    private void ReadFrames()
    {
        var ring = _ring!;
        var buffer = _receiveBuffer;
        int filled = 0;
        while (true)
        {
            int n = NetHostCalls.ReadSome(_socket, buffer.AsSpan(filled));
            if (n <= 0)
                break;
            filled += n;
            int at = 0;
            while (filled - at >= LengthPrefix)
            {
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(at));
                if (length <= 0 || length > NetFeatures.MaxFrameBytes)
                {
                    if (!_disposed) LogBadFrame(_logger, Description, (uint)length);
                    return;
                }
                if (filled - at < LengthPrefix + length)
                    break;
                ring.Write(buffer.AsSpan(at + LengthPrefix, length), _dropWhileSendWaits);
                at += LengthPrefix + length;
            }
            if (at > 0)
            {
                buffer.AsSpan(at, filled - at).CopyTo(buffer);
                filled -= at;
            }
        }
        if (!_disposed && !_aborted)
            LogPasstGone(_logger, Description);
    }

    private void OnPasstOutput(string? line)
    {
        // passt also tries syslog, which a container may lack; that complaint says nothing about the network.
        if (string.IsNullOrWhiteSpace(line) || line.StartsWith("Failed to send", StringComparison.Ordinal) ||
            line.StartsWith("Don't run as root", StringComparison.Ordinal))
            return;
        lock (_stderr)
        {
            if (_stderr.Count < 20) _stderr.Add(line.Trim());
        }
        if (_running && !_disposed)
            LogPasstSays(_logger, line.Trim());
    }

    private string StderrText()
    {
        lock (_stderr) return string.Join("; ", _stderr);
    }

    private static string? FindInPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        // passt sees the end of its stream and quits; the reader's read returns 0.
        NetHostCalls.shutdown(_socket, NetHostCalls.SHUT_RDWR);
        _ring?.Close();
        _reader?.Join();
        NetHostCalls.close(_socket);
        if (!_passt.WaitForExit(TimeSpan.FromSeconds(2)))
        {
            _passt.Kill();
            _passt.WaitForExit();
        }
        _passt.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Backend} closed the network socket: the guest's network is down")]
    private static partial void LogPasstGone(ILogger logger, string backend);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Backend} sent a frame length of {Length}: the guest's network is down")]
    private static partial void LogBadFrame(ILogger logger, string backend, uint length);

    [LoggerMessage(Level = LogLevel.Warning, Message = "passt: {Line}")]
    private static partial void LogPasstSays(ILogger logger, string line);
}
