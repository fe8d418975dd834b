using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Vessel.Cli;

namespace Vessel.Api.Tests;

/// <summary>`vessel --api-sock ...` run in-process on a thread of its own, with its console captured, and an
/// HttpClient that talks to it over the Unix socket.</summary>
internal sealed class VesselProcess : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly CapturedOutput _output = new();
    private readonly MemoryStream _error = new();
    private int _exitCode = -1;

    public VesselProcess(params string[] extraArgs)
    {
        Directory = Path.Combine(Path.GetTempPath(), $"vessel-api-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        SocketPath = Path.Combine(Directory, "api.sock");
        string[] backend = extraArgs.Contains("--backend") ? [] : ["--backend", "emu"]; // emu unless a test asks
        string[] args = extraArgs.Contains("--no-api") ? [.. extraArgs, .. backend] : ["--api-sock", SocketPath, .. backend, .. extraArgs];
        _thread = new Thread(() => _exitCode = VesselCli.Run(args, new MemoryStream(), _output, _error,
            new CliHost { HandleSignals = false, Stop = _stop.Token })) { IsBackground = true };
        _thread.Start();
        Client = CreateClient(SocketPath);
        if (!extraArgs.Contains("--no-api")) WaitForSocket();
    }

    public string Directory { get; }
    public string SocketPath { get; }
    public HttpClient Client { get; }
    public string Output => _output.Text;
    public string Error => Encoding.UTF8.GetString(_error.ToArray());

    public static HttpClient CreateClient(string socketPath) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://localhost"), Timeout = TimeSpan.FromSeconds(30) };

    public string File(string name, byte[] bytes)
    {
        string path = Path.Combine(Directory, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public async Task<(int Status, string Body)> Send(string method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        // As curl does for bodies over 1 KiB: a refused oversized body is never sent.
        if (json?.Length > 1024) request.Headers.ExpectContinue = true;
        using var response = await Client.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Sends and asserts 204, showing the fault otherwise.</summary>
    public async Task Expect204(string method, string path, string json)
    {
        var (status, body) = await Send(method, path, json);
        Assert.True(status == 204, $"{method} {path}: {status} {body}");
    }

    public async Task<string> Get(string path)
    {
        var (status, body) = await Send("GET", path);
        Assert.Equal(200, status);
        return body;
    }

    public static string FaultOf(string body) => JsonDocument.Parse(body).RootElement.GetProperty("fault_message").GetString()!;

    public bool WaitForOutput(Func<string, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition(Output)) return true;
            Thread.Sleep(20);
        }
        return condition(Output);
    }

    /// <summary>The output once a whole second has passed without any (what a paused or ended guest printed last
    /// reaches it through the console's writer thread, whose pace depends on the machine's load); fails if the
    /// output keeps growing for 30 s.</summary>
    public string WaitForQuietOutput()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string last = Output;
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(1000);
            string now = Output;
            if (now == last) return now;
            last = now;
        }
        Assert.Fail($"the output did not stop growing in 30 s: {last[^Math.Min(last.Length, 200)..]}");
        return last;
    }

    /// <summary>Waits for vessel to end by itself and returns its exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        Assert.True(_thread.Join(timeout), $"vessel did not end within {timeout}; stderr: {Error}");
        return _exitCode;
    }

    private void WaitForSocket()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!System.IO.File.Exists(SocketPath))
        {
            Assert.True(_thread.IsAlive, $"vessel ended before listening: {Error}");
            Assert.True(DateTime.UtcNow < deadline, "the API socket never appeared");
            Thread.Sleep(20);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(30));
        Client.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    private sealed class CapturedOutput : Stream
    {
        private readonly Lock _lock = new();
        private readonly StringBuilder _text = new();
        public string Text { get { lock (_lock) return _text.ToString(); } }
        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock) _text.Append(Encoding.Latin1.GetString(buffer, offset, count));
        }
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
