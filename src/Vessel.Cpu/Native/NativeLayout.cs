using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vessel.Cpu.Native;

/// <summary>What translated code reads besides the CPU state: the vCPU's read and write TLBs (pinned arrays),
/// the user bit of TLB tags for the current privilege level, and the iterations a self-looping block may still
/// run before it returns. One per vCPU, in pinned memory, refreshed by the managed side before each entry.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeContext
{
    public TlbEntry* ReadTlb;
    public TlbEntry* WriteTlb;
    public ulong UserBit;
    public int LoopBudget;
    /// <summary>Index of the chainable exit the code left by (-1: another exit); set by the exit, reset before entry.</summary>
    public int ExitSlot;
    /// <summary>Running id of the block running now (see <see cref="NativeBlockTable"/>): written by each chained entry,
    /// so the managed side knows which block handed an instruction back or ended.</summary>
    public long RunningBlock;
    /// <summary>This vCPU's jump cache (see <see cref="NativeJumpCache"/>).</summary>
    public JumpCacheEntry* JumpCache;
    /// <summary>Non-zero while SSE instructions fault (CR0.EM or CR0.TS set, CR4.OSFXSR clear): translated SSE forms
    /// then hand themselves to the interpreter, which raises #UD or #NM. Refreshed before each entry (only an
    /// interpreted instruction changes CR0 or CR4, and the run loop re-enters after it).</summary>
    public int SseBlocked;
    /// <summary>Where translated floating-point SSE forms keep the host's MXCSR while the guest's is loaded.</summary>
    public uint HostMxcsr;
    /// <summary>Non-zero while the host's MXCSR holds the guest's: set by the first floating-point SSE form a run of
    /// translated code reaches, cleared by the return, which stores the guest's MXCSR (its sticky flags) back to the
    /// state and reloads <see cref="HostMxcsr"/>. Zero whenever managed code runs.</summary>
    public int GuestMxcsrLoaded;
    /// <summary>Where an instruction keeps a value across its second probe (which clobbers every scratch register):
    /// PUSH [mem]'s loaded value.</summary>
    public ulong Scratch;
    /// <summary>Non-zero when translated code asks the run loop to look at interrupts once this run returns: an STI
    /// that set IF (the run loop would otherwise chain on, and a guest opening a short window for a pending interrupt,
    /// STI ... CLI, would never take it). Cleared by the managed side when it reads it.</summary>
    public int EndRun;
    /// <summary>This vCPU's TSC minus the host's monotonic clock in nanoseconds (<see cref="MsrFile.TscBias"/>), and
    /// IA32_TSC_AUX: what translated RDTSC and RDTSCP add and load. Set before each run (WRMSR ends one).</summary>
    public long TscBias;
    public ulong TscAux;
}

/// <summary>Byte offsets translated code uses outside <see cref="CpuStateLayout"/>: the context's fields and a
/// TLB entry's, computed from the structs themselves.</summary>
internal static unsafe class NativeLayout
{
    public static readonly int ReadTlb, WriteTlb, UserBit, LoopBudget, ExitSlot, RunningBlock, JumpCache, SseBlocked, HostMxcsr, GuestMxcsrLoaded, Scratch, EndRun, TscBias, TscAux, EntryTag, EntryDelta, EntryBytes;

    static NativeLayout()
    {
        NativeContext c;
        byte* at = (byte*)&c;
        ReadTlb = (int)((byte*)&c.ReadTlb - at);
        WriteTlb = (int)((byte*)&c.WriteTlb - at);
        UserBit = (int)((byte*)&c.UserBit - at);
        LoopBudget = (int)((byte*)&c.LoopBudget - at);
        ExitSlot = (int)((byte*)&c.ExitSlot - at);
        RunningBlock = (int)((byte*)&c.RunningBlock - at);
        JumpCache = (int)((byte*)&c.JumpCache - at);
        SseBlocked = (int)((byte*)&c.SseBlocked - at);
        HostMxcsr = (int)((byte*)&c.HostMxcsr - at);
        GuestMxcsrLoaded = (int)((byte*)&c.GuestMxcsrLoaded - at);
        Scratch = (int)((byte*)&c.Scratch - at);
        EndRun = (int)((byte*)&c.EndRun - at);
        TscBias = (int)((byte*)&c.TscBias - at);
        TscAux = (int)((byte*)&c.TscAux - at);
        var e = new TlbEntry();
        EntryTag = (int)Unsafe.ByteOffset(ref Unsafe.As<TlbEntry, byte>(ref e), ref Unsafe.As<ulong, byte>(ref e.Tag));
        EntryDelta = (int)Unsafe.ByteOffset(ref Unsafe.As<TlbEntry, byte>(ref e), ref Unsafe.As<long, byte>(ref e.Delta));
        EntryBytes = Unsafe.SizeOf<TlbEntry>();
    }
}
