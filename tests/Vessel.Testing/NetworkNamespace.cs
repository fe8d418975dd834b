using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Vessel.Testing;

/// <summary>
/// A network namespace a test creates (`ip netns add`) and removes when disposed, whatever happened in between,
/// so test traffic stays inside it. Construct it with <c>using</c>; a constructor that fails half-way removes what
/// it made. Needs root; <see cref="Unavailable"/> says why it cannot be used here.
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private int _disposed;

    /// <summary>Creates <c>PREFIX-PID-N</c> with its loopback up.</summary>
    public NetworkNamespace(string prefix)
    {
        Name = $"{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref _created)}";
        Ip($"netns add {Name}");
        try
        {
            Run("link set lo up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static int _created;

    public string Name { get; }

    /// <summary>Null when this process can make namespaces and TAP devices (root, /dev/net/tun, iproute2); else why not.</summary>
    public static string? Unavailable =>
        Environment.UserName != "root" || !File.Exists("/dev/net/tun") ||
        !File.Exists("/usr/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/sbin/ip")
            ? "needs root, /dev/net/tun and iproute2 (it creates a network namespace with a TAP device in it)"
            : null;

    /// <summary>Runs `ip -n NAME ARGUMENTS` (e.g. "tuntap add vt0 mode tap"); throws with ip's message on failure.</summary>
    public void Run(string arguments) => Ip($"-n {Name} {arguments}");

    /// <summary>Adds a TAP device with <paramref name="address"/> (CIDR) on the namespace's side, up.</summary>
    public void AddTap(string tap, string address)
    {
        Run($"tuntap add {tap} mode tap");
        Run($"addr add {address} dev {tap}");
        Run($"link set {tap} up");
    }

    /// <summary>Runs <paramref name="make"/> on a short-lived thread that has entered the namespace: a socket or a
    /// TAP file descriptor keeps the namespace of the thread that made it, and a namespace is per thread.</summary>
    public T Inside<T>(Func<T> make)
    {
        T? made = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var nsFile = File.OpenHandle($"/run/netns/{Name}");
                if (setns((int)nsFile.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new InvalidOperationException($"setns {Name} failed: errno {Marshal.GetLastPInvokeError()}");
                made = make();
            }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        if (failure != null)
            throw new InvalidOperationException($"in network namespace {Name}: {failure.Message}", failure);
        return made!;
    }

    public static bool Exists(string name) => File.Exists($"/run/netns/{name}");

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            Ip($"netns del {Name}");
    }

    private static void Ip(string arguments)
    {
        using var p = Process.Start(new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"ip {arguments}: {error.Trim()}");
    }

    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
