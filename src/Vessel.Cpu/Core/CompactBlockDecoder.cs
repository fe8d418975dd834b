using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Decodes a compact block's kept guest bytes (<see cref="DecodedBlock.Code"/>) again into a block with
/// arrays: the same instructions and fast forms its decode from guest memory gave, since the bytes, the start
/// address and the bitness (64: only translated blocks are made compact) are the same. One per vCPU.</summary>
internal sealed class CompactBlockDecoder
{
    private readonly BytesReader _reader = new();
    private readonly Decoder _decoder;

    public CompactBlockDecoder() => _decoder = Decoder.Create(64, _reader);

    /// <summary>Decodes <paramref name="count"/> instructions from <paramref name="code"/>, the first at
    /// <paramref name="startRip"/>, into <paramref name="into"/>'s arrays; false unless they take exactly the bytes.</summary>
    public bool Decode(byte[] code, ulong startRip, int count, DecodedBlock into)
    {
        _reader.Reset(code);
        _decoder.IP = startRip;
        for (int i = 0; i < count; i++)
        {
            _decoder.Decode(out into.Instructions[i]);
            into.FastOps[i] = FastOpClassifier.Classify(ref into.Instructions[i], 64);
        }
        into.Count = count;
        return _reader.Position == code.Length && !_reader.RanOut;
    }

    /// <summary>Decodes <paramref name="compact"/> into <paramref name="into"/> (the block's bytes were checked to
    /// decode this way when it was made compact).</summary>
    public void Expand(DecodedBlock compact, DecodedBlock into)
    {
        if (!Decode(compact.Code!, compact.StartRip, compact.Count, into))
            throw new InvalidOperationException($"compact block 0x{compact.StartRip:x} no longer decodes to its length");
    }

    /// <summary>A new block with <paramref name="compact"/>'s instructions, for the profiler's report (another thread).</summary>
    public static DecodedBlock Copy(DecodedBlock compact)
    {
        var copy = new DecodedBlock { StartRip = compact.StartRip, Native = compact.Native };
        new CompactBlockDecoder().Expand(compact, copy);
        return copy;
    }

    /// <summary>A block's bytes, and past their end no more (Iced then decodes what it has as invalid).</summary>
    private sealed class BytesReader : CodeReader
    {
        private byte[] _code = [];
        public int Position;
        public bool RanOut;

        public void Reset(byte[] code)
        {
            _code = code;
            Position = 0;
            RanOut = false;
        }

        public override int ReadByte()
        {
            if (Position < _code.Length) return _code[Position++];
            RanOut = true;
            return -1;
        }
    }
}
