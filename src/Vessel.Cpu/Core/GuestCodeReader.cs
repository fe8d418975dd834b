using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Feeds Iced the bytes of guest code, from a host pointer inside one page and through the
/// CPU's instruction fetch when an instruction runs into the next page.</summary>
internal sealed unsafe class GuestCodeReader(RunLoop loop) : CodeReader
{
    private byte* _page;
    private int _offset;
    private ulong _pageLinear;
    public bool CrossedPage;

    public void Reset(byte* page, ulong pageLinear, int offset)
    {
        _page = page;
        _pageLinear = pageLinear;
        _offset = offset;
        CrossedPage = false;
    }

    public int Offset => _offset;

    public override int ReadByte()
    {
        if (_offset < 4096) return _page[_offset++];
        CrossedPage = true;
        return loop.FetchCodeByte(_pageLinear + (ulong)_offset++);
    }
}
