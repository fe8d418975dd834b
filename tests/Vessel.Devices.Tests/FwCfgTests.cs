using System.Text;
using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class FwCfgTests
{
    private readonly FwCfg _fwCfg = new(cpuCount: 4, ramSize: 0x2000_0000);

    /// <summary>kvm-unit-tests' fwcfg_get_u: outw the key to 0x510, then inb 0x511 once per byte.</summary>
    private ulong Get(ushort key, int bytes)
    {
        _fwCfg.Write(0, 2, key);
        ulong value = 0;
        for (var i = 0; i < bytes; i++)
            value |= (ulong)_fwCfg.Read(1, 1) << (i * 8);
        return value;
    }

    [Fact]
    public void SignatureAndId()
    {
        _fwCfg.Write(0, 2, FwCfg.SignatureKey);
        var signature = new byte[4];
        for (var i = 0; i < 4; i++)
            signature[i] = (byte)_fwCfg.Read(1, 1);
        Assert.Equal("QEMU", Encoding.ASCII.GetString(signature));
        Assert.Equal(0u, _fwCfg.Read(1, 1));    // past the end
        Assert.Equal(1ul, Get(FwCfg.IdKey, 4));
    }

    [Fact]
    public void ItemsKvmUnitTestsReads()
    {
        Assert.Equal(4ul, Get(FwCfg.CpuCountKey, 2));
        Assert.Equal(0x2000_0000ul, Get(FwCfg.RamSizeKey, 8));
        Assert.Equal(0ul, Get(FwCfg.MaxRamKey, 8));     // no limit
        var limited = new FwCfg(1, 0x1_0000_0000, ramLimit: 0x8000_0000);
        limited.Write(0, 2, FwCfg.MaxRamKey);
        ulong limit = 0;
        for (var i = 0; i < 8; i++)
            limit |= (ulong)limited.Read(1, 1) << (i * 8);
        Assert.Equal(0x8000_0000ul, limit);
    }

    [Fact]
    public void ReselectingRestartsAndUnknownKeysReadZero()
    {
        Get(FwCfg.SignatureKey, 2);
        Assert.Equal((ulong)'Q', Get(FwCfg.SignatureKey, 1));
        Assert.Equal(0ul, Get(0x1234, 8));
        Assert.Equal(4ul, Get(0x4000 | FwCfg.CpuCountKey, 2));  // write-channel bit ignored
    }

    [Fact]
    public void MalformedAccessesAreIgnored()
    {
        _fwCfg.Write(0, 2, FwCfg.CpuCountKey);
        _fwCfg.Write(0, 1, FwCfg.SignatureKey);             // the selector is 16-bit only
        Assert.Equal(4u, _fwCfg.Read(1, 1));
        Assert.Equal(0xFFFFu, _fwCfg.Read(1, 2));
        Assert.Equal(0xFFu, _fwCfg.Read(0, 1));
        Assert.Equal(0xFFu, _fwCfg.Read(7, 1));
    }
}
