using System.Runtime.CompilerServices;
using Iced.Intel;
using Vessel.Hypervisor;
using FlagOp = Vessel.Cpu.X86Cpu.FlagOp;

namespace Vessel.Cpu;

/// <summary>LOCK-prefixed read-modify-writes, and XCHG with memory, are atomic against every access of every
/// vCPU — plain stores included, as on hardware (a spinlock released by a plain MOV while another vCPU spins in
/// LOCK CMPXCHG must not lose the release). The instruction runs as usual, but its destination read remembers
/// the host address and the value, and its write is a host compare-and-swap against that value. If another
/// vCPU changed the location in between, the register and flag effects are undone and the instruction runs
/// again. A destination the write TLB does not map straight to RAM (MMIO, a page holding decoded code) or
/// one that crosses a page runs under the VM's lock instead, as every locked instruction once did. So does one
/// that crosses a 64-byte cache line: a host atomic across a line is a split lock, which the host kernel
/// answers with SIGBUS (split_lock_detect=fatal) or a deliberate slowdown (warn, the default).
/// One per vCPU; every read-modify-write destination goes through <see cref="ReadRmw"/> and
/// <see cref="WriteRmw"/>, which are plain accesses outside a locked instruction.</summary>
internal sealed unsafe class LockedAccess
{
    private enum AtomicState : byte
    {
        /// <summary>Not inside a locked instruction.</summary>
        Off,
        /// <summary>Inside one; its destination has not been read yet.</summary>
        Armed,
        /// <summary>The destination was read from <see cref="_atomicHost"/>; the write will compare-and-swap.</summary>
        Read,
        /// <summary>The compare-and-swap found another value: undo and run again.</summary>
        Conflict,
        /// <summary>The destination is not plain RAM within one page: undo and run under the VM's lock.</summary>
        NeedsLock,
        /// <summary>Running again under the VM's lock: accesses are plain reads and writes.</summary>
        UnderLock,
    }

    private const int HostCacheLineBytes = 64;

    private readonly X86Cpu _cpu;
    private readonly GuestMemoryAccess _access;
    private readonly Tlb _writeTlb;
    private readonly GuestMemory _memory;
    private readonly CodePageMap _code;
    /// <summary>The VM's lock, for the destinations a host atomic cannot reach.</summary>
    private readonly object _vmLock;

    /// <summary>Locked instructions whose destination crossed a cache line and ran under the VM's lock instead
    /// of as a host split lock.</summary>
    internal long SplitLockFallbacks;

    private AtomicState _atomicState;
    private byte* _atomicHost;
    private ulong _atomicExpected, _atomicExpectedHigh;

    /// <summary>Register and flag state before a locked instruction, restored when it has to run again.</summary>
    private readonly ulong[] _savedGpr = new ulong[16];

    public LockedAccess(X86Cpu cpu, GuestMemoryAccess access, Mmu mmu, GuestMemory memory, EmuMachineContext machine)
    {
        _cpu = cpu;
        _access = access;
        _writeTlb = mmu.Write;
        _memory = memory;
        _code = machine.Code;
        _vmLock = machine.AtomicLock;
    }

    /// <summary>Inside a locked instruction (its first run, a re-run, or the run under the VM's lock).</summary>
    public bool InLockedInstruction => _atomicState != AtomicState.Off;

    /// <summary>A LOCK-prefixed instruction: #UD unless it is a read-modify-write of memory that takes LOCK.</summary>
    public void Execute(ref Instruction ins)
    {
        bool lockable = ins.Mnemonic switch
        {
            Mnemonic.Add or Mnemonic.Adc or Mnemonic.Sub or Mnemonic.Sbb or Mnemonic.And or Mnemonic.Or
                or Mnemonic.Xor or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Neg or Mnemonic.Not
                or Mnemonic.Xchg or Mnemonic.Xadd or Mnemonic.Cmpxchg or Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b
                or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc => true,
            _ => false,
        };
        if (!lockable || ins.Op0Kind != OpKind.Memory) _cpu.FaultNoCode(Vector.UD);
        ExecuteAtomically(ref ins);
    }

    /// <summary>Runs a read-modify-write of memory so that it is atomic (see the class summary).</summary>
    public void ExecuteAtomically(ref Instruction ins)
    {
        ref CpuState state = ref _cpu.State;
        ((Span<ulong>)state.Gpr).CopyTo(_savedGpr);
        ulong rflags = state.Rflags, flagA = state.FlagA, flagB = state.FlagB, flagResult = state.FlagResult;
        FlagOp flagOp = state.FlagOp;
        int flagSize = state.FlagSize;
        try
        {
            while (true)
            {
                _atomicState = AtomicState.Armed;
                _cpu.ExecuteUnlocked(ref ins);
                AtomicState outcome = _atomicState;
                _atomicState = AtomicState.Off;
                if (outcome is AtomicState.Read or AtomicState.Armed) return;

                _savedGpr.AsSpan().CopyTo(state.Gpr);
                state.Rflags = rflags; state.FlagA = flagA; state.FlagB = flagB; state.FlagResult = flagResult;
                state.FlagOp = flagOp; state.FlagSize = flagSize;
                if (outcome == AtomicState.NeedsLock)
                {
                    lock (_vmLock)
                    {
                        _atomicState = AtomicState.UnderLock;
                        _cpu.ExecuteUnlocked(ref ins);
                    }
                    return;
                }
            }
        }
        finally
        {
            _atomicState = AtomicState.Off;
        }
    }

    /// <summary>Reads the destination of a read-modify-write at <paramref name="linear"/> after checking it is
    /// writable (so a #GP or #PF comes before any flag changes); inside a locked instruction it also arms the
    /// compare-and-swap of <see cref="WriteRmw"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadRmw(ulong linear, int size)
    {
        bool user = _cpu.UserAccess;
        _access.ProbeWritable(linear, size, user);
        if (_atomicState == AtomicState.Armed) return ReadAtomic(linear, size);
        return _access.ReadLinear(linear, size, user);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteRmw(ulong linear, int size, ulong value)
    {
        if (_atomicState is AtomicState.Off or AtomicState.UnderLock) _access.WriteLinear(linear, size, value, _cpu.UserAccess);
        else WriteAtomic(size, value);
    }

    private ulong ReadAtomic(ulong linear, int size)
    {
        byte* host = WritableHostPointer(linear, size);
        if (host == null)
        {
            _atomicState = AtomicState.NeedsLock;
            return 0; // never used: the instruction's effects are undone and it runs again under the lock
        }
        ulong value = size switch
        {
            1 => Volatile.Read(ref *host),
            2 => Volatile.Read(ref *(ushort*)host),
            4 => Volatile.Read(ref *(uint*)host),
            _ => Volatile.Read(ref *(ulong*)host),
        };
        _atomicHost = host;
        _atomicExpected = value;
        _atomicState = AtomicState.Read;
        return value;
    }

    private void WriteAtomic(int size, ulong value)
    {
        if (_atomicState != AtomicState.Read) return; // NeedsLock: the write happens in the run under the lock
        byte* host = _atomicHost;
        ulong expected = _atomicExpected;
        bool swapped = size switch
        {
            1 => Interlocked.CompareExchange(ref *host, (byte)value, (byte)expected) == (byte)expected,
            2 => Interlocked.CompareExchange(ref *(ushort*)host, (ushort)value, (ushort)expected) == (ushort)expected,
            4 => Interlocked.CompareExchange(ref *(uint*)host, (uint)value, (uint)expected) == (uint)expected,
            _ => Interlocked.CompareExchange(ref *(ulong*)host, value, expected) == expected,
        };
        if (!swapped) _atomicState = AtomicState.Conflict;
    }

    /// <summary>CMPXCHG16B's destination: both halves read at once, atomically with respect to the later
    /// <see cref="Write16Rmw"/>.</summary>
    public (ulong Low, ulong High) Read16Rmw(ulong linear)
    {
        bool user = _cpu.UserAccess;
        _access.ProbeWritable(linear, 16, user);
        if (_atomicState == AtomicState.Armed)
        {
            byte* host = WritableHostPointer(linear, 16);
            if (host == null)
            {
                _atomicState = AtomicState.NeedsLock;
                return (0, 0);
            }
            // A compare-and-swap of the value with itself reads all 16 bytes in one atomic access.
            ulong low = 0, high = 0;
            HostAtomics.CompareExchange128(host, ref low, ref high, 0, 0);
            _atomicHost = host;
            _atomicExpected = low;
            _atomicExpectedHigh = high;
            _atomicState = AtomicState.Read;
            return (low, high);
        }
        return (_access.ReadLinear(linear, 8, user), _access.ReadLinear(linear + 8, 8, user));
    }

    public void Write16Rmw(ulong linear, ulong low, ulong high)
    {
        if (_atomicState is AtomicState.Off or AtomicState.UnderLock)
        {
            bool user = _cpu.UserAccess;
            _access.WriteLinear(linear, 8, low, user);
            _access.WriteLinear(linear + 8, 8, high, user);
            return;
        }
        if (_atomicState != AtomicState.Read) return;
        ulong expectedLow = _atomicExpected, expectedHigh = _atomicExpectedHigh;
        if (!HostAtomics.CompareExchange128(_atomicHost, ref expectedLow, ref expectedHigh, low, high))
            _atomicState = AtomicState.Conflict;
    }

    /// <summary>The host address of a write of <paramref name="size"/> bytes at <paramref name="linear"/> when it
    /// lands in RAM within one cache line (so within one page) that holds no decoded code, else null. The page is
    /// already known writable. Guest RAM is page-aligned on the host, so a guest line is a host line.</summary>
    private byte* WritableHostPointer(ulong linear, int size)
    {
        if ((linear & (HostCacheLineBytes - 1)) > (ulong)(HostCacheLineBytes - size))
        {
            SplitLockFallbacks++;
            return null;
        }
        bool user = _cpu.UserAccess;
        byte* hit = Mmu.Probe(_writeTlb, linear, size, user ? 1UL : 0);
        if (hit != null) return hit;
        ulong phys = _access.Translate(linear, AccessKind.Write, user);
        byte* page = _memory.TryGetPointer(phys & ~0xFFFUL, 4096);
        if (page == null || _code.IsCode(phys)) return null;
        _access.FillWriteTlb(linear, phys, page, user);
        return page + (phys & 0xFFF);
    }
}
