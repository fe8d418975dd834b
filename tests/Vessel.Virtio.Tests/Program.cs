using Vessel.Virtio.Block;

namespace Vessel.Virtio.Tests;

/// <summary>Helpers the tests run as child processes (<c>dotnet exec Vessel.Virtio.Tests.dll NAME ...</c>), for what
/// needs a process to die: the test runner does not use this entry point.</summary>
public static class Program
{
    public const string FlushThenWait = "flush-then-wait";

    public static int Main(string[] args)
    {
        if (args is [FlushThenWait, var image])
            return WriteFlushAndWait(image);
        Console.Error.WriteLine("usage: Vessel.Virtio.Tests flush-then-wait IMAGE");
        return 2;
    }

    /// <summary>Writes 4 KiB of 0xC3 at sector 8 through virtio-blk, flushes, says "flushed" and waits to be killed.</summary>
    private static int WriteFlushAndWait(string image)
    {
        var driver = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(image)));
        driver.Activate();
        var memory = driver.Ram.Memory;
        ulong header = driver.Ram.Alloc(16), data = driver.Ram.Alloc(4096), status = driver.Ram.Alloc(2, 1);
        memory.Fill(data, 4096, 0xC3);
        memory.WriteUInt32(header, VirtioBlock.TypeOut);
        memory.WriteUInt64(header + 8, 8);
        driver.Queues[0].AddChain(Buf.R(header, 16), Buf.R(data, 4096), Buf.W(status, 1));
        ulong flush = driver.Ram.Alloc(16);
        memory.WriteUInt32(flush, VirtioBlock.TypeFlush);
        driver.Queues[0].AddChain(Buf.R(flush, 16), Buf.W(status + 1, 1));
        driver.Kick();
        if (driver.Queues[0].UsedIndex != 2 || memory.ReadUInt16(status) != 0)
            return 1;
        Console.Out.WriteLine("flushed");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
