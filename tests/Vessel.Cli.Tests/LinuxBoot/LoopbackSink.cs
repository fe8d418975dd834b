using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>A TCP sink on the host's loopback for a guest's upload: accepts one connection, sends one newline, reads exactly
/// <c>expected</c> bytes (or up to the end of the stream), hashes them, then closes, which is what ends a busybox
/// `nc` whose input is done (it does not close on the end of its input).</summary>
internal sealed class LoopbackSink : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Thread _thread;
    private readonly long _expected;

    public LoopbackSink(long expected)
    {
        _expected = expected;
        _listener.Start();
        _thread = new Thread(Receive) { IsBackground = true, Name = "loopback sink" };
        _thread.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes received and their MD5 (lower-case hex), once the connection is over.</summary>
    public (long Bytes, string Md5) Result(TimeSpan timeout)
    {
        Assert.True(_thread.Join(timeout), "the guest's upload did not end");
        return (_received, _md5);
    }

    private long _received;
    private string _md5 = "";

    private void Receive()
    {
        try
        {
            using var client = _listener.AcceptTcpClient();
            using var stream = client.GetStream();
            // One byte first: Debian 12's passt resets a guest-initiated connection whose host side never sends
            // anything after ~25 s (PasstBackend), and a guest on the software CPU uploads for longer than that.
            stream.WriteByte((byte)'\n');
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            var buffer = new byte[1 << 16];
            while (_received < _expected)
            {
                int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, _expected - _received));
                if (n == 0)
                    break;
                md5.AppendData(buffer, 0, n);
                _received += n;
            }
            _md5 = Convert.ToHexStringLower(md5.GetHashAndReset());
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose() => _listener.Stop();
}
