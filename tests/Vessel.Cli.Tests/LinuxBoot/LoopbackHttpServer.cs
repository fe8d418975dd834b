using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>A minimal HTTP/1.0 server on the host's loopback that answers every GET with one blob; the guest reaches
/// it through its gateway address (passt maps the gateway onto the host's loopback).</summary>
internal sealed class LoopbackHttpServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly byte[] _body;
    private readonly Thread _thread;

    public LoopbackHttpServer(byte[] body) : this(body, new TcpListener(IPAddress.Loopback, 0))
    {
    }

    /// <summary>Serves on <paramref name="listener"/>, e.g. one made and started in another network namespace.</summary>
    public LoopbackHttpServer(byte[] body, TcpListener listener)
    {
        _listener = listener;
        _body = body;
        if (!_listener.Server.IsBound)
            _listener.Start();
        _thread = new Thread(Serve) { IsBackground = true, Name = "loopback http" };
        _thread.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int Requests;

    private void Serve()
    {
        try
        {
            while (true)
            {
                using var client = _listener.AcceptTcpClient();
                using var stream = client.GetStream();
                var request = new StringBuilder();
                var buffer = new byte[1024];
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    int n = stream.Read(buffer);
                    if (n == 0) break;
                    request.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                Interlocked.Increment(ref Requests);
                stream.Write(Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {_body.Length}\r\nContent-Type: application/octet-stream\r\n\r\n"));
                stream.Write(_body);
            }
        }
        catch (SocketException) { }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _listener.Stop();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
