namespace Vessel.Cpu;

internal static class FastOpKindExtensions
{
    /// <summary>Whether the fast form is a near branch whose targets the block's translation exits to itself.</summary>
    public static bool IsBranch(this FastOpKind kind) => kind is FastOpKind.Jcc or FastOpKind.Jmp;
}
