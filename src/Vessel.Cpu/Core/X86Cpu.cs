using Iced.Intel;
using Vessel.Hypervisor;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The architectural state of one emulated x86-64 processor and the glue its units and its run loop
/// (<see cref="RunLoop"/>) share. Split over partial files by concern (flags, memory, operands, instruction groups,
/// system).</summary>
internal sealed unsafe partial class X86Cpu : Platform.IApicCpu
{
    public const int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

    private readonly EmuMachineContext _machine;
    private readonly GuestMemory _memory;
    public int VcpuId { get; }

    /// <summary>The registers the interpreter and compiled blocks share, in one fixed-layout block. The
    /// members below alias its fields, so instruction code reads as before and the JIT inlines them to a
    /// direct field access.</summary>
    internal CpuState State;

    public ref GprFile Gpr => ref State.Gpr;
    public ref ulong Rip => ref State.Rip;
    private ref ulong _instructionStart => ref State.InstructionStart;
    public ref SegmentFile Seg => ref State.Seg;
    public ref Segment Ldtr => ref State.Ldtr;
    public ref Segment Tr => ref State.Tr;
    public ref DescriptorTable Gdtr => ref State.Gdtr;
    public ref DescriptorTable Idtr => ref State.Idtr;
    public ref ulong Cr0 => ref State.Cr0;
    public ref ulong Cr2 => ref State.Cr2;
    public ref ulong Cr3 => ref State.Cr3;
    public ref ulong Cr4 => ref State.Cr4;
    public ref ulong Efer => ref State.Efer;
    public ref ulong Cr8 => ref State.Cr8;
    public ref int Bitness => ref State.Bitness;
    public ref int Cpl => ref State.Cpl;
    public readonly ulong[] Dr = new ulong[8];

    /// <summary>Interrupts are inhibited for one instruction after STI, MOV SS and POP SS.</summary>
    internal bool InterruptShadow;

    /// <summary>HLT with interrupts enabled: waiting for an interrupt.</summary>
    internal bool Halted;

    /// <summary>Finds, decodes, runs and translates this vCPU's blocks.</summary>
    private readonly RunLoop _runLoop;
    internal RunLoop Loop => _runLoop;

    /// <summary>Guest instructions retired; the benchmark reads it.</summary>
    public ref long InstructionsRetired => ref State.InstructionsRetired;

    public VcpuExit Run() => _runLoop.Run();

    /// <summary>A timer was (re)armed: poll at the next block boundary, and wake a halted vCPU to re-plan its sleep.</summary>
    public void RequestPoll()
    {
        _runLoop.RequestPoll();
        Wake();
    }

    /// <summary>The native tier's counts (see <see cref="RunLoop"/>), for tests and the profiler.</summary>
    internal long NativeTranslations => _runLoop.NativeTranslations;
    internal long NativeEntries => _runLoop.NativeEntries;
    internal long NativeSteps => _runLoop.NativeSteps;
    internal long NativeLinks => _runLoop.NativeLinks;
    internal long NativeChainedReturns => _runLoop.NativeChainedReturns;
    internal long NativeJumpCacheFills => _runLoop.NativeJumpCacheFills;

    private readonly CpuFault _fault = new();
    private readonly ExitToVmm _exitToVmm = new();

    /// <summary>Set while an interrupt or exception is being delivered (see <see cref="ReadPhysicalMmio"/>).</summary>
    private bool _deliveringEvent;

    /// <summary>The exits this vCPU's instructions made and the device values they are replayed with.</summary>
    internal readonly PendingExits Exits;

    internal volatile bool KickRequested;

    // The profiler's view of this vCPU (VESSEL_EMU_PROFILE): what it is doing and what happened so far.
    internal byte ProfMode;
    internal CpuCounters Counters;
    /// <summary>Instructions compiled blocks handed back to the interpreter, and generic interpreter runs, by Iced code.</summary>
    internal readonly long[] StepsByCode = EmuProfiler.Enabled ? new long[Enum.GetValues<Iced.Intel.Code>().Length] : [];
    internal readonly long[] GenericByCode = EmuProfiler.Enabled ? new long[Enum.GetValues<Iced.Intel.Code>().Length] : [];
    internal ulong ProfileRip => _instructionStart;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Prof(ProfileMode mode)
    {
        if (EmuProfiler.Enabled) ProfMode = (byte)mode;
    }

    public X86Cpu(EmuMachineContext machine, int id)
    {
        _machine = machine;
        _memory = machine.Memory;
        _mmu = new Mmu(_memory, _fault);
        _access = new GuestMemoryAccess(this, _mmu, _memory, machine.Code);
        Locked = new LockedAccess(this, _access, _mmu, _memory, machine);
        BulkStrings = new BulkStrings(this, _mmu);
        VcpuId = id;
        State.Bitness = 16;
        State.Rflags = RflagsBits.Reserved1;
        Exits = new PendingExits(_exitToVmm);
        _runLoop = new RunLoop(this, machine);
        Msrs = new MsrFile(machine.Clock);
        _descriptors = new DescriptorTables(this, _fault);
        _tasks = new TaskSwitcher(this, _descriptors, _fault);
        _segments = new SegmentLoader(this, _descriptors, _fault);
        _tss = new TaskStateSegment(this, _fault);
        _steps = new TransferSteps(this, _fault);
        _events = new EventDelivery(this, _fault, _steps, _tss, _descriptors, _segments, _tasks);
        _iret = new InterruptReturn(this, _fault, _steps, _events, _descriptors, _segments, _tasks);
        _far = new FarTransfers(this, _fault, _steps, _tss, _descriptors, _segments, _tasks);
        _fastCalls = new FastSystemCalls(this, _fault, Msrs);
        _msrRouter = new MsrRouter(this, Msrs);
        _systemInstructions = new SystemInstructions(this, _fault, _msrRouter, Msrs, _fastCalls);
        _segmentInstructions = new SegmentInstructions(this, _fault, _far, _events, _iret, _descriptors, _segments);
        _x87 = new X87Unit(this);
        _simd = new SimdUnit(this, _x87);
        _xsave = new XsaveUnit(this, _x87, _simd);
        Bcd = new DecimalUnit(this);
        var integer = new IntegerPort(this);
        MultiplyDivide = new(integer);
        Bits = new(integer);
        Branches = new(integer);
        StackInstructions = new(integer);
        Strings = new(integer);
        Arithmetic = new(integer);
        Shifts = new(integer);
        Moves = new(integer);
        Reset();
        EmuProfiler.Register(this);
    }

    /// <summary>The state after RESET (real mode at F000:FFF0).</summary>
    public void Reset()
    {
        ((Span<ulong>)Gpr).Clear();
        var sregs = SpecialRegisters.RealMode(0xF000);
        sregs.Cs.Base = 0xFFFF_0000;
        SetSpecialRegisters(sregs);
        Rip = 0xFFF0;
        SetRflags(RflagsBits.Reserved1);
        Gpr[2] = 0x600; // EDX holds the processor signature after reset
        ResetMsrs();
        ResetFpu();
        ResetEventDelivery();
    }

    public void Kick()
    {
        KickRequested = true;
        Wake();
    }

    public void CompleteRead(ulong value) => Exits.CompleteRead(value);
}
