using System.Numerics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>The inline TLB probe: R9 (a linear address) looked up the way <see cref="Mmu.Probe"/> does it.</summary>
internal sealed partial class NativeTranslator
{
    /// <summary>The host has BMI2 (SHRX, SHLX: shifts that leave the flags alone), so probes could keep the guest's
    /// flags in the host's without saving them.</summary>
    internal static readonly bool HostCanKeepFlagsInProbe = HostCpuFeatures.Bmi2;

    /// <summary>The flag-keeping probe, unless VESSEL_NATIVE_FLAG_KEEPING_PROBE=0 (then probes save the flags in R10
    /// around themselves). It clobbers R8: code that holds a value across a probe keeps it elsewhere or loads it after
    /// (CALL through a register once kept its target in R8, and the Debian boot halted in the kernel's decompressor).</summary>
    internal static readonly bool HostKeepsFlagsInProbe = HostCanKeepFlagsInProbe
        && Environment.GetEnvironmentVariable("VESSEL_NATIVE_FLAG_KEEPING_PROBE") != "0";

    /// <summary>Set on a thread, its translations use the flag-saving probe even where the host has BMI2 (tests: the
    /// vCPU runs on the thread that calls it).</summary>
    [ThreadStatic] internal static bool ForceFlagSavingProbe;

    /// <summary>Tests: the flag-keeping probe where the host can run it, whatever the default.</summary>
    [ThreadStatic] internal static bool ForceFlagKeepingProbe;
    private readonly bool _flagKeepingProbe = (HostKeepsFlagsInProbe || ForceFlagKeepingProbe && HostCanKeepFlagsInProbe) && !ForceFlagSavingProbe;

    private static readonly int EntryShift = BitOperations.Log2((uint)NativeLayout.EntryBytes);

    /// <summary>Looks R9 up in a TLB for an access of <paramref name="size"/> bytes: on a hit inside one page RDX is
    /// the host address; otherwise the code leaves for the interpreter at instruction <paramref name="index"/> with
    /// the guest's flags in place. The tag compared is that of the access's last byte, so one compare also rejects an
    /// access running into the next page. Clobbers RAX, RCX, R8 (and RDX). Without BMI2 the flags are saved in R10
    /// first, for the caller's <see cref="EmitRestoreFlags"/>. Returns the miss label.</summary>
    private Label EmitProbe(int tlbOffset, int size, int index)
    {
        _flagsInR10 = false;
        if (!_flagKeepingProbe) return EmitFlagSavingProbe(tlbOffset, size, index);
        Label miss = OutOfLine(() => EmitExit(index));
        Label hit = _a.CreateLabel();
        // RDX = the entry: the address rotated so its index bits are the lowest (the page offset goes to the top),
        // shifted up to drop everything above them, then down to the index times the entry size.
        _a.mov(rdx, __qword_ptr[rsi + tlbOffset]);
        _a.rorx(rax, r9, 12);
        _a.mov(r8d, 64 - Tlb.EntryBits);
        _a.shlx(rax, rax, r8);
        _a.mov(r8d, 64 - Tlb.EntryBits - EntryShift);
        _a.shrx(rax, rax, r8);
        _a.lea(rdx, __[rdx + rax]);
        // RCX = the tag of the last byte: its page, plus the user bit (the page's low bits are zero).
        _a.lea(rcx, __[r9 + (size - 1)]);
        _a.mov(r8d, 12);
        _a.shrx(rcx, rcx, r8);
        _a.shlx(rcx, rcx, r8);
        _a.mov(r8, __qword_ptr[rsi + NativeLayout.UserBit]);
        _a.lea(rcx, __[rcx + r8]);
        // RCX - tag as RCX + NOT tag + 1, and JRCXZ on it: a compare that leaves the flags alone.
        _a.mov(rax, __qword_ptr[rdx + NativeLayout.EntryTag]);
        _a.not(rax);
        _a.lea(rcx, __[rcx + rax + 1]);
        _a.jrcxz(hit);
        _a.jmp(miss);
        _a.Label(ref hit);
        _a.mov(rdx, __qword_ptr[rdx + NativeLayout.EntryDelta]);
        _a.lea(rdx, __[rdx + r9]);
        return miss;
    }

    /// <summary>The probe for hosts without BMI2: it saves the flags in R10 first, and its miss restores them.</summary>
    private Label EmitFlagSavingProbe(int tlbOffset, int size, int index)
    {
        EmitSaveFlags();
        Label miss = OutOfLine(() =>
        {
            EmitFlagsFromR10();
            EmitExit(index);
        });
        _a.mov(rdx, __qword_ptr[rsi + tlbOffset]);
        _a.mov(eax, r9d);
        _a.shr(eax, (byte)(12 - EntryShift));
        _a.and(eax, (Tlb.Entries - 1) << EntryShift);
        _a.add(rdx, rax);
        _a.lea(rcx, __[r9 + (size - 1)]);
        _a.and(rcx, -4096);
        _a.or(rcx, __qword_ptr[rsi + NativeLayout.UserBit]);
        _a.cmp(rcx, __qword_ptr[rdx + NativeLayout.EntryTag]);
        _a.jne(miss);
        _a.mov(rdx, __qword_ptr[rdx + NativeLayout.EntryDelta]);
        _a.add(rdx, r9);
        return miss;
    }
}
