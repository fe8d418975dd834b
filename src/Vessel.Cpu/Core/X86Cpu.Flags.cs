using System.Runtime.CompilerServices;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The CPU's view of RFLAGS. The lazy arithmetic flags are <see cref="LazyFlags"/>'s, over the state block;
/// the members below keep the names the instruction code calls them by.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Shift: ZF/SF/PF come from the result; CF and OF were computed and sit in <see cref="_rflags"/>;
    /// AF (undefined after shifts) reads as clear.</summary>
    internal enum FlagOp : byte { None, Add, Adc, Sub, Sbb, Logic, Inc, Dec, Shift }

    // The flags live in the state block (CpuState.Rflags and the lazy fields); these alias them.
    private ref ulong _rflags => ref State.Rflags;
    private ref FlagOp _flagOp => ref State.FlagOp;
    private ref ulong _flagA => ref State.FlagA;
    private ref ulong _flagB => ref State.FlagB;
    private ref ulong _flagResult => ref State.FlagResult;
    private ref int _flagSize => ref State.FlagSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SizeMask(int size) => LazyFlags.SizeMask(size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetCf() => LazyFlags.GetCf(ref State);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetZf() => LazyFlags.GetZf(ref State);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetSf() => LazyFlags.GetSf(ref State);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetPf() => LazyFlags.GetPf(ref State);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetOf() => LazyFlags.GetOf(ref State);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool GetAf() => LazyFlags.GetAf(ref State);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void MaterializeFlags() => LazyFlags.MaterializeFlags(ref State);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong GetRflags() => LazyFlags.GetRflags(ref State);

    /// <summary>Sets RFLAGS wholesale (bit 1 forced on, reserved bits off).</summary>
    public void SetRflags(ulong value)
    {
        const ulong writable = Cf | Pf | Af | Zf | Sf | Tf | If | Df | Of | Iopl | Nt | Rf | Vm | Ac | Vif | Vip | Id;
        _rflags = (value & writable) | Reserved1;
        _flagOp = FlagOp.None;
        if ((value & Ac) == 0) _mmu.DropAcEntries();
    }

    public bool InterruptsEnabled => (_rflags & If) != 0;
    public int IoPrivilegeLevel => (int)((_rflags >> 12) & 3);
}
