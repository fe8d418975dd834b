using System.Net;
using System.Net.Sockets;

namespace Vessel.Virtio.Tests.Net;

/// <summary>The test helper every TAP test stands on: its namespace exists while in use, sockets made inside it
/// belong to it, and it is gone after disposal, an exception thrown inside the <c>using</c> included.</summary>
public sealed class NetworkNamespaceTests
{
    [RootNetFact]
    public void A_namespace_exists_while_used_and_is_removed_even_when_the_test_throws()
    {
        string name = "";
        Assert.Throws<InvalidDataException>((Action)(() =>
        {
            using var ns = new NetworkNamespace("vessel-nstest");
            name = ns.Name;
            Assert.True(NetworkNamespace.Exists(name));
            ns.AddTap("vt9", "10.215.0.1/24");
            throw new InvalidDataException("the test failed half-way");
        }));
        Assert.StartsWith("vessel-nstest-", name);
        Assert.False(NetworkNamespace.Exists(name));
    }

    [RootNetFact]
    public void A_listener_made_inside_binds_the_namespace_address_the_host_does_not_have()
    {
        using var ns = new NetworkNamespace("vessel-nstest");
        ns.AddTap("vt9", "10.215.0.1/24");
        // The host has no 10.215.0.1: binding it outside the namespace fails, inside it succeeds.
        Assert.Throws<SocketException>(() =>
        {
            using var outside = new TcpListener(IPAddress.Parse("10.215.0.1"), 0);
            outside.Start();
        });
        using var listener = ns.Inside(() =>
        {
            var l = new TcpListener(IPAddress.Parse("10.215.0.1"), 0);
            l.Start();
            return l.Server;
        });
        Assert.Equal("10.215.0.1", ((IPEndPoint)listener.LocalEndPoint!).Address.ToString());
    }

    [RootNetFact]
    public void A_failing_command_names_itself()
    {
        using var ns = new NetworkNamespace("vessel-nstest");
        var e = Assert.Throws<InvalidOperationException>(() => ns.Run("link set no-such-link up"));
        Assert.Contains($"ip -n {ns.Name} link set no-such-link up", e.Message);
    }
}
