using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>FSTENV/FLDENV/FSAVE/FRSTOR (and the no-wait forms) in the 14/94-byte (16-bit operand) and
/// 28/108-byte (32-bit operand, also 64-bit mode) layouts, real-mode and protected-mode variants.
/// The instruction and data pointers are not tracked: they are stored as zero.</summary>
internal sealed partial class X87Unit
{
    private bool ExecuteX87Environment(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fstenv: CheckX87Waiting(); StoreX87Environment(ref ins); _fcw |= 0x3F; return true;
            case Mnemonic.Fnstenv: CheckX87(); StoreX87Environment(ref ins); _fcw |= 0x3F; return true;
            case Mnemonic.Fldenv: CheckX87(); LoadX87Environment(ref ins, false); return true;
            case Mnemonic.Fsave: CheckX87Waiting(); SaveX87State(ref ins); return true;
            case Mnemonic.Fnsave: CheckX87(); SaveX87State(ref ins); return true;
            case Mnemonic.Frstor: CheckX87(); LoadX87Environment(ref ins, true); return true;
        }
        return false;
    }

    private bool X87RealLayout => !Cpu.ProtectedLayout;

    /// <summary>The full tag word: 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported), 11 empty.</summary>
    private ushort FullTagWord()
    {
        int tags = 0;
        for (int p = 0; p < 8; p++)
        {
            int t;
            if ((_ftw & (1 << p)) == 0) t = 3;
            else
            {
                var v = new Float80(_fpMant[p], _fpExp[p]);
                t = v.IsZero ? 1 : v.BiasedExp == 0x7FFF || v.BiasedExp == 0 || (v.Mant & Float80.IntegerBit) == 0 ? 2 : 0;
            }
            tags |= t << (2 * p);
        }
        return (ushort)tags;
    }

    private int X87EnvironmentSize(ref Instruction ins) =>
        MemorySizeOf(ref ins) is 14 or 94 ? 14 : 28;

    private void StoreX87Environment(ref Instruction ins)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = EffectiveAddress(ref ins);
        WriteX87Environment(seg, ea, X87EnvironmentSize(ref ins));
    }

    private void WriteX87Environment(int seg, ulong ea, int size)
    {
        // The pointer fields are zero: the emulator does not keep FIP/FDP/FOP per instruction.
        ushort tag = FullTagWord();
        if (size == 14)
        {
            ulong head = _fcw | (ulong)_fsw << 16 | (ulong)tag << 32;
            WriteVirtual(seg, ea, 8, head);
            WriteVirtual(seg, ea + 8, 4, 0);
            WriteVirtual(seg, ea + 12, 2, 0);
            return;
        }
        WriteVirtual(seg, ea, 4, 0xFFFF_0000u | _fcw);
        WriteVirtual(seg, ea + 4, 4, 0xFFFF_0000u | _fsw);
        WriteVirtual(seg, ea + 8, 4, 0xFFFF_0000u | tag);
        WriteVirtual(seg, ea + 12, 8, 0);
        WriteVirtual(seg, ea + 20, 4, 0);
        WriteVirtual(seg, ea + 24, 4, X87RealLayout ? 0 : 0xFFFF_0000u);
        if (X87RealLayout) WriteVirtual(seg, ea + 16, 4, 0);
        else WriteVirtual(seg, ea + 16, 4, 0);
    }

    private void SaveX87State(ref Instruction ins)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = EffectiveAddress(ref ins);
        int size = X87EnvironmentSize(ref ins);
        // Probe the far end first so a fault leaves nothing half written.
        ReadVirtual(seg, ea + (ulong)size + 79, 1);
        WriteX87Environment(seg, ea, size);
        for (int i = 0; i < 8; i++)
        {
            int p = PhysReg(i);
            ulong at = ea + (ulong)size + (ulong)i * 10;
            WriteVirtual(seg, at, 8, _fpMant[p]);
            WriteVirtual(seg, at + 8, 2, _fpExp[p]);
        }
        ResetX87Control();
    }

    private void LoadX87Environment(ref Instruction ins, bool registers)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = EffectiveAddress(ref ins);
        int size = X87EnvironmentSize(ref ins);
        ushort fcw, fsw, tag;
        if (size == 14)
        {
            fcw = (ushort)ReadVirtual(seg, ea, 2);
            fsw = (ushort)ReadVirtual(seg, ea + 2, 2);
            tag = (ushort)ReadVirtual(seg, ea + 4, 2);
        }
        else
        {
            fcw = (ushort)ReadVirtual(seg, ea, 2);
            fsw = (ushort)ReadVirtual(seg, ea + 4, 2);
            tag = (ushort)ReadVirtual(seg, ea + 8, 2);
        }
        Span<ulong> mant = stackalloc ulong[8];
        Span<ushort> exp = stackalloc ushort[8];
        if (registers)
            for (int i = 0; i < 8; i++)
            {
                ulong at = ea + (ulong)size + (ulong)i * 10;
                mant[i] = ReadVirtual(seg, at, 8);
                exp[i] = (ushort)ReadVirtual(seg, at + 8, 2);
            }
        _fcw = (ushort)(fcw | 0x40);
        _fsw = fsw;
        SyncX87ErrorSummary();
        byte abridged = 0;
        for (int p = 0; p < 8; p++) if (((tag >> (2 * p)) & 3) != 3) abridged |= (byte)(1 << p);
        _ftw = abridged;
        if (registers)
            for (int i = 0; i < 8; i++)
            {
                int p = PhysReg(i);
                _fpMant[p] = mant[i]; _fpExp[p] = exp[i];
            }
    }
}
