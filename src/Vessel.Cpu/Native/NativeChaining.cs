namespace Vessel.Cpu.Native;

/// <summary>Direct jumps between translated blocks of one vCPU. A block's exits to a constant address in its own
/// page go through a chain slot, a <c>JMP rel32</c> that falls through to the exit; once the run loop has seen that
/// exit lead straight to a translated block, it patches the slot to that block's chain entry, so the next run goes
/// from one to the other without returning. Only blocks in the same guest-virtual and guest-physical page, decoded
/// from the same bytes, are linked: whenever the first runs under a mapping the run loop checked, the second's bytes
/// are where it jumps. A block whose instruction runs into the next page may be either end: a write to its second
/// page bumps its first page's generation too (<see cref="CodePageMap.MarkCodeRunningInto"/>), so the shared
/// generation still covers its bytes; but that page's mapping is not the first's, so the run loop unlinks the jumps
/// into such a block when its translation epoch moves (<see cref="UnlinkIncoming"/>). A block that goes
/// (invalidated, evicted, flushed) first has every jump into it unpatched, and is taken out of the incoming lists of
/// the blocks it jumps to. Only the owning vCPU's thread, outside translated code, links and unlinks.</summary>
internal static class NativeChaining
{
    /// <summary>Links <paramref name="from"/>'s chain slot <paramref name="slot"/> to <paramref name="to"/> if the
    /// rules above allow it; true if it did.</summary>
    public static bool TryLink(ExecutableArena arena, NativeBlock from, int slot, NativeBlock to)
    {
        DecodedBlock a = from.Owner, b = to.Owner;
        if (a.Native != from || b.Native != to || (uint)slot >= (uint)from.Outgoing.Length || from.Outgoing[slot] != null) return false;
        if (from.ChainTargets[slot] != b.StartRip) return false;
        if ((a.StartRip ^ b.StartRip) >= 0x1000 || (a.PhysicalAddress ^ b.PhysicalAddress) >= 0x1000) return false;
        if (a.Generation != b.Generation || a.Bitness != b.Bitness || a.CsBase != b.CsBase) return false;
        long displacement = (long)to.ChainEntry - ((long)from.Code + from.ChainSlotOffsets[slot] + 5);
        if (displacement != (int)displacement) return false;
        arena.PatchInt32(from.Chunk, from.ChainSlotOffsets[slot] + 1, (int)displacement);
        from.Outgoing[slot] = to;
        to.Incoming.Add((from, slot));
        return true;
    }

    /// <summary>Unpatches every jump into <paramref name="block"/> and forgets its own, before its chunk is freed.</summary>
    public static void UnlinkAll(ExecutableArena arena, NativeBlock block)
    {
        UnlinkIncoming(arena, block);
        for (int slot = 0; slot < block.Outgoing.Length; slot++)
        {
            if (block.Outgoing[slot] is not { } to) continue;
            to.Incoming.Remove((block, slot));
            block.Outgoing[slot] = null;
        }
    }

    /// <summary>Unpatches every jump into <paramref name="block"/>; its own stay.</summary>
    public static void UnlinkIncoming(ExecutableArena arena, NativeBlock block)
    {
        foreach ((NativeBlock from, int slot) in block.Incoming)
        {
            if (from.Outgoing[slot] != block) continue;
            arena.PatchInt32(from.Chunk, from.ChainSlotOffsets[slot] + 1, 0);
            from.Outgoing[slot] = null;
        }
        block.Incoming.Clear();
    }

    /// <summary>Unpatches every jump into and out of <paramref name="block"/>, whose code stays: its links were made
    /// under a code generation that has passed (<see cref="UnlinkAll"/> leaves a block's own slots patched, since
    /// its code is about to be freed).</summary>
    public static void UnlinkKeepingCode(ExecutableArena arena, NativeBlock block)
    {
        for (int slot = 0; slot < block.Outgoing.Length; slot++)
            if (block.Outgoing[slot] != null) arena.PatchInt32(block.Chunk, block.ChainSlotOffsets[slot] + 1, 0);
        UnlinkAll(arena, block);
    }
}
