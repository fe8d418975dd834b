using System.Buffers.Binary;
using System.Diagnostics;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Cpu.Native;

namespace Vessel.Bench;

/// <summary>`translate` mode: the native tier's translator alone, over blocks cut from the .text of a real x86-64
/// ELF file (compiler output like the guest's busybox and libc; the host's libc by default) the way the run loop cuts
/// them: up to 64 instructions, on past conditional branches, ending at any other control transfer or at a page end.
/// Prints microseconds and allocated bytes per translated block, the median of the runs, for an A/B of two builds.</summary>
internal static class TranslateBench
{
    public static int Run(string path, int blockCount, int runs)
    {
        List<DecodedBlock> blocks = CutBlocks(File.ReadAllBytes(path), blockCount);
        if (blocks.Count == 0)
        {
            Console.Error.WriteLine($"{path}: no .text to cut blocks from");
            return 1;
        }
        int instructions = 0;
        foreach (DecodedBlock b in blocks) instructions += b.Count;
        long hostBytes = 0;
        for (int i = 0; i < 3; i++) hostBytes = TranslateAll(blocks); // warm-up: the JIT's tiers settle before the timed runs
        var perBlock = new List<double>();
        long allocated = 0;
        for (int run = 0; run < runs; run++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            long start = Stopwatch.GetTimestamp();
            TimeSpan cpuStart = Environment.CpuUsage.TotalTime;
            TranslateAll(blocks);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            // CPU time, not wall time: on a loaded machine the wall clock mostly measures the other processes.
            double cpuSeconds = (Environment.CpuUsage.TotalTime - cpuStart).TotalSeconds;
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            perBlock.Add(cpuSeconds * 1e6 / blocks.Count);
            Console.WriteLine($"run {run + 1}: {blocks.Count} blocks in {cpuSeconds * 1e3:F1} ms CPU ({seconds * 1e3:F1} ms wall) = {perBlock[^1]:F2} us/block");
        }
        perBlock.Sort();
        Console.WriteLine($"{Path.GetFileName(path)}: {blocks.Count} blocks of {(double)instructions / blocks.Count:F1} instructions, "
            + $"{(double)hostBytes / blocks.Count:F0} host bytes each; median of {runs}: {perBlock[runs / 2]:F2} us CPU/block, "
            + $"{allocated / blocks.Count:N0} bytes allocated/block, {NativeBlockEncoder.ForThisThread.Declined} left to Iced's block encoder");
        return 0;
    }

    private static long TranslateAll(List<DecodedBlock> blocks)
    {
        long bytes = 0;
        foreach (DecodedBlock block in blocks)
            bytes += NativeTranslator.Translate(block, 1)?.Code.Length ?? 0;
        return bytes;
    }

    /// <summary>Up to <paramref name="limit"/> blocks cut back to back from the ELF file's .text section.</summary>
    private static List<DecodedBlock> CutBlocks(byte[] elf, int limit)
    {
        var blocks = new List<DecodedBlock>();
        if (!TryFindText(elf, out int offset, out int size, out ulong address)) return blocks;
        var reader = new ByteArrayCodeReader(elf, offset, size);
        var decoder = Decoder.Create(64, reader, address);
        ulong end = address + (ulong)size;
        var scratch = new DecodedBlock();
        while (blocks.Count < limit && decoder.IP < end)
        {
            ulong start = decoder.IP;
            int n = 0;
            while (n < DecodedBlock.MaxInstructions && decoder.IP < end)
            {
                ulong ip = decoder.IP;
                decoder.Decode(out scratch.Instructions[n]);
                ref Instruction ins = ref scratch.Instructions[n];
                if (n > 0 && ((ip ^ start) >= 0x1000 || ((ins.NextIP - 1) ^ start) >= 0x1000))
                {
                    decoder.IP = ip; // the next block starts with this instruction
                    reader.Position = (int)(ip - address);
                    break;
                }
                scratch.FastOps[n] = FastOpClassifier.Classify(ref ins, 64);
                n++;
                if (ins.Code == Code.INVALID || ins.FlowControl != FlowControl.Next && !ins.IsJccShortOrNear) break;
            }
            if (n == 0 || scratch.Instructions[n - 1].Code == Code.INVALID) continue;
            var block = new DecodedBlock(n) { Count = n, StartRip = start, Bitness = 64, PhysicalAddress = start, Generation = 1, Cacheable = true };
            Array.Copy(scratch.Instructions, block.Instructions, n);
            Array.Copy(scratch.FastOps, block.FastOps, n);
            blocks.Add(block);
        }
        return blocks;
    }

    /// <summary>The file offset, size and load address of an ELF64 file's .text section.</summary>
    private static bool TryFindText(byte[] elf, out int offset, out int size, out ulong address)
    {
        offset = size = 0;
        address = 0;
        if (elf.Length < 64 || BinaryPrimitives.ReadUInt32BigEndian(elf) != 0x7F454C46 || elf[4] != 2) return false;
        var span = elf.AsSpan();
        long sectionTable = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int entrySize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        int namesIndex = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3E..]);
        ReadOnlySpan<byte> Section(int i) => elf.AsSpan((int)(sectionTable + (long)i * entrySize), entrySize);
        long names = (long)BinaryPrimitives.ReadUInt64LittleEndian(Section(namesIndex)[0x18..]);
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> s = Section(i);
            int name = (int)BinaryPrimitives.ReadUInt32LittleEndian(s);
            if (!span[(int)(names + name)..].StartsWith(".text\0"u8)) continue;
            address = BinaryPrimitives.ReadUInt64LittleEndian(s[0x10..]);
            offset = (int)BinaryPrimitives.ReadUInt64LittleEndian(s[0x18..]);
            size = (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(s[0x20..]), (ulong)(elf.Length - offset));
            return true;
        }
        return false;
    }
}
