using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Devices;
using Vessel.Devices.Pci;
using Vessel.Hypervisor;
using Vessel.Virtio.Block;
using Vessel.Virtio.Pci;

namespace Vessel.Virtio.Tests.Pci;

/// <summary>A driver that writes anything anywhere: random widths, offsets and values into configuration
/// space, the MSI-X BAR and the register BAR (status bits, queue addresses, DRIVER_OK, kicks) of a real
/// virtio-blk behind the transport, with guest memory full of random bytes. Nothing may throw out of a
/// register access, the image outside what the driver could legitimately write stays untouched (it is
/// read-only), and a reset always brings the function back.</summary>
public sealed class HostileDriverTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomRegisterTrafficNeverEscapesAndResetRecovers(int seed)
    {
        var random = new Random(seed);
        using var image = new TempImage(64 * 1024, i => (byte)(i * 7));
        byte[] before = image.ReadAll();
        using var region = new GuestMemoryRegion(1 << 20);
        var memory = new GuestMemory();
        memory.Map(0, 0, region);
        random.NextBytes(memory.GetSpan(0, 1 << 20));
        int messages = 0;
        using var function = new VirtioPciFunction(new VirtioBlock(new VirtioBlockOptions(image.Path, ReadOnly: true)), memory,
            NullInterruptLine.Instance, (_, _) => Interlocked.Increment(ref messages), doorbells: null,
            NullLogger.Instance, "hostile");

        int[] sizes = [1, 2, 4, 8];
        int active = 0;
        for (int i = 0; i < 20000; i++)
        {
            int size = sizes[random.Next(sizes.Length)];
            ulong value = (ulong)random.NextInt64() ^ ((ulong)random.NextInt64() << 1);
            switch (random.Next(10))
            {
                case 0:
                    int offset = random.Next(PciConfigSpace.Size + 8);
                    function.Config.Write(offset, Math.Min(size, 4), (uint)value);
                    function.ConfigWritten(offset, Math.Min(size, 4));
                    break;
                case 1:
                    function.WriteBar(0, (ulong)random.Next(0x1100), size, value);
                    break;
                case 2:
                    // Status: mostly the bits a driver sets on the way to DRIVER_OK, with queues pointed into RAM.
                    function.WriteBar(2, 0x16, 2, 0);
                    function.WriteBar(2, 0x20, 8, (ulong)random.Next(1 << 20));
                    function.WriteBar(2, 0x28, 8, (ulong)random.Next(1 << 20));
                    function.WriteBar(2, 0x30, 8, (ulong)random.Next(1 << 20));
                    function.WriteBar(2, 0x1C, 2, 1);
                    if (random.Next(2) == 0)
                    {
                        ulong features = function.Device.OfferedFeatures & (ulong)random.NextInt64() | VirtioFeatures.Version1;
                        function.WriteBar(2, 0x08, 4, 0);
                        function.WriteBar(2, 0x0C, 4, features & 0xFFFF_FFFF);
                        function.WriteBar(2, 0x08, 4, 1);
                        function.WriteBar(2, 0x0C, 4, features >> 32);
                        function.WriteBar(2, 0x14, 1, 0x0B);
                        function.WriteBar(2, 0x14, 1, 0x0F);
                    }
                    else
                    {
                        function.WriteBar(2, 0x14, 1, (ulong)random.Next(256));
                    }
                    if ((function.Status & VirtioPciFunction.StatusDriverOk) != 0) active++;
                    break;
                case 3:
                    function.WriteBar(2, 0x3000, 2, 0); // kick queue 0
                    break;
                case 4:
                    function.QueueInterrupt(random.Next(-2, 4));
                    break;
                default:
                    ulong at = (ulong)random.Next(0x4100);
                    if (random.Next(2) == 0) function.WriteBar(2, at, size, value);
                    else function.ReadBar(random.Next(6), at, size);
                    break;
            }
        }

        Assert.True(active > 100, $"only {active} activations: the traffic did not reach the device");
        function.WriteBar(2, 0x14, 1, 0);
        Assert.Equal(0, function.Status);
        Assert.Equal(1UL, function.ReadBar(2, 0x12, 2)); // num_queues still answers
        Assert.Equal(before, image.ReadAll());
    }
}
