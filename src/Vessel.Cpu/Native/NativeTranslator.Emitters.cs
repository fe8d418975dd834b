using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>What the emitter classes (<see cref="NativeRehostedEmitter"/> and the ones it dispatches to,
/// <see cref="NativeBitOpsEmitter"/>, <see cref="NativeAccumulatorEmitter"/>, <see cref="NativeDivideEmitter"/>,
/// <see cref="NativeShiftEmitter"/>; <see cref="NativeSseEmitter"/>, <see cref="NativeSystemEmitter"/>) use of the
/// translator: its assembler, the probe, the flag-keeping protocol and the exits. They hold the forms' code, which
/// keeps this class within its size.</summary>
internal sealed partial class NativeTranslator
{
    private NativeRehostedEmitter? _rehosted;
    private NativeSseEmitter? _sseEmitter;
    private NativeSystemEmitter? _systemEmitter;

    internal Assembler Asm => _a;

    /// <summary>Whether the current instruction's code holds the guest's flags in R10 (see <see cref="EmitSaveFlags"/>).</summary>
    internal bool FlagsSaved => _flagsInR10;

    /// <summary>Forgets flags saved in R10: the instruction sets the host's flags itself from here on.</summary>
    internal void DropSavedFlags() => _flagsInR10 = false;

    /// <summary>Whether instruction <paramref name="index"/> is the block's last.</summary>
    internal bool IsLastInstruction(int index) => index == _block.Count - 1;
    internal void Count() => CountInstruction();
    internal void SaveFlags() => EmitSaveFlags();
    internal void RestoreFlags() => EmitRestoreFlags();
    internal void EffectiveAddress(ref FastOp f) => EmitEffectiveAddress(ref f);
    internal Label Probe(int tlbOffset, int size, int index) => EmitProbe(tlbOffset, size, index);
    /// <summary>An out-of-line exit that hands instruction <paramref name="index"/> to the interpreter.</summary>
    internal Label HandBackLabel(int index) => OutOfLine(() => EmitExit(index));
    internal void Access(ref FastOp f, int tlbOffset, int size, int index) => EmitAccess(ref f, tlbOffset, size, index);
    internal void MultiplyFlags(int size) => EmitImulFlags(size);
    internal void PushFlags(int index) => EmitPushFlags(index);
    internal Label OutOfLineCode(Action code) => OutOfLine(code);

    /// <summary>The probe for code that has already saved the flags in R10 and clobbers the host's: its miss restores
    /// them from R10 and hands instruction <paramref name="index"/> back.</summary>
    internal Label ProbeWithFlagsSaved(int tlbOffset, int size, int index) => EmitFlagSavingProbe(tlbOffset, size, index);

    /// <summary>Out-of-line code that hands instruction <paramref name="index"/> to the interpreter with the guest's
    /// flags back from R10 (saved there by the caller).</summary>
    internal Label ExitWithSavedFlags(int index) => OutOfLine(() =>
    {
        EmitFlagsFromR10();
        EmitExit(index);
    });

    /// <summary>Out-of-line code that leaves the block after instruction <paramref name="index"/> (done, RIP at the
    /// next instruction) with the guest's flags back from R10.</summary>
    internal Label ExitAfterWithSavedFlags(int index) => OutOfLine(() =>
    {
        EmitFlagsFromR10();
        EmitPlainExitTo(_block.Instructions[index].NextIP);
    });

    /// <summary>Host flags = the saved ones (R10) with CF replaced by CL (0 or 1); nothing is saved afterwards.</summary>
    internal void RestoreFlagsWithCarryFromCl()
    {
        _a.mov(eax, r10d);
        _a.and(ah, unchecked((byte)~1));
        _a.or(ah, cl);
        _a.add(al, 0x7F);
        _a.sahf();
        _flagsInR10 = false;
    }

    /// <summary>Hands instruction <paramref name="index"/> back when the <paramref name="size"/>-byte access at R9
    /// crosses a 64-byte line: a host LOCKed access across a line is a split lock, which the interpreter avoids (it
    /// runs such an instruction under the VM's lock). The flags must be saved in R10; this clobbers them and RAX.</summary>
    internal void HandBackIfSplitLine(int size, int index)
    {
        if (size == 1) return;
        _a.mov(eax, r9d);
        _a.and(eax, 63);
        _a.cmp(eax, 64 - size);
        _a.ja(ExitWithSavedFlags(index));
    }

    private NativeRehostedEmitter Rehosted => _rehosted ??= new NativeRehostedEmitter(this);
    private NativeSseEmitter SseEmitter => _sseEmitter ??= new NativeSseEmitter(this);
    private NativeSystemEmitter SystemEmitter => _systemEmitter ??= new NativeSystemEmitter(this);
}
