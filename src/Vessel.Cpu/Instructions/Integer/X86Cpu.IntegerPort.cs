using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The integer instruction units this CPU holds, and the CPU as they see it (<see cref="IntegerPort"/>).</summary>
internal sealed partial class X86Cpu
{
    private readonly MultiplyDivideUnit<IntegerPort> _multiplyDivide;
    private readonly BitUnit<IntegerPort> _bits;
    private readonly NearBranchUnit<IntegerPort> _branches;
    private readonly StackUnit<IntegerPort> _stack;
    private readonly StringUnit<IntegerPort> _strings;
    private readonly ArithmeticUnit<IntegerPort> _arithmetic;
    private readonly ShiftUnit<IntegerPort> _shifts;
    private readonly DataMovementUnit<IntegerPort> _moves;
    /// <summary>The atomic read-modify-writes of LOCKed instructions and XCHG with memory.</summary>
    private readonly LockedAccess _locked;

    /// <summary>Locked instructions that ran under the VM's lock rather than as a host split lock.</summary>
    internal long SplitLockFallbacks => _locked.SplitLockFallbacks;
    /// <summary>REP MOVS and REP STOS run as host copies and fills where the TLBs allow.</summary>
    internal BulkStrings BulkStrings { get; }

    /// <summary>The low <paramref name="size"/> bytes of <paramref name="v"/>, sign-extended.</summary>
    internal static long SignExtend(ulong v, int size) => size switch
    {
        1 => (sbyte)v, 2 => (short)v, 4 => (int)v, _ => (long)v,
    };

    internal void SetMulFlags(ulong low, int size, bool overflow)
    {
        MaterializeFlags();
        _rflags = (_rflags & ~Arithmetic) | ResultFlags(low, size) | (overflow ? Cf | Of : 0);
    }

    private void PopSegmentRegister(int seg, int size)
    {
        ulong sel = PeekStack(0, size);
        LoadSegmentRegister(seg, (ushort)sel);
        SetStackPointer(Gpr[4] + (ulong)size);
    }

    private void LoadSegmentRegister(int seg, ushort selector)
    {
        _segments.Load(seg, selector);
        if (seg == SS) _interruptShadow = true;
        _endBlock = true;
    }

    /// <summary>The integer units' handle on this CPU: a struct holding only the CPU, so a unit generic over it is
    /// compiled for it and every member below is a direct (mostly inlined) call, with no virtual dispatch.</summary>
    internal readonly struct IntegerPort(X86Cpu cpu) : IIntegerCpu
    {
        private readonly X86Cpu _cpu = cpu;

        public ref CpuState State => ref _cpu.State;

        public ulong ReadOperand(ref Instruction ins, int n, int size) => _cpu.ReadOperand(ref ins, n, size);
        public void WriteOperand(ref Instruction ins, int n, int size, ulong value) => _cpu.WriteOperand(ref ins, n, size, value);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong ReadGpr(Register reg) => _cpu.ReadGpr(reg);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void WriteGpr(Register reg, ulong value) => _cpu.WriteGpr(reg, value);
        public void WriteGprSized(int index, int size, ulong value) => _cpu.WriteGprSized(index, size, value);
        public ulong EffectiveAddress(ref Instruction ins) => _cpu.EffectiveAddress(ref ins);
        public int AddressSize(ref Instruction ins) => X86Cpu.AddressSize(ref ins);
        public ulong ReadMemoryOperand(ref Instruction ins, int size) => _cpu.ReadMemoryOperand(ref ins, size);
        public ulong ReadModifyTarget(ref Instruction ins, int size) => _cpu.ReadModifyTarget(ref ins, size);
        public void WriteModifyTarget(ref Instruction ins, int size, ulong value) => _cpu.WriteModifyTarget(ref ins, size, value);
        public void WriteMemoryOperand(ref Instruction ins, int size, ulong value) => _cpu.WriteMemoryOperand(ref ins, size, value);

        public bool UserAccess => _cpu.UserAccess;
        public ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind) => _cpu.SegmentedLinear(seg, offset, size, kind);
        public ulong ReadLinear(ulong linear, int size, bool user) => _cpu.ReadLinear(linear, size, user);
        public ulong ReadVirtual(int seg, ulong offset, int size) => _cpu.ReadVirtual(seg, offset, size);
        public void WriteVirtual(int seg, ulong offset, int size, ulong value) => _cpu.WriteVirtual(seg, offset, size, value);
        public ulong ReadRmw(ulong linear, int size) => _cpu._locked.ReadRmw(linear, size);
        public void WriteRmw(ulong linear, int size, ulong value) => _cpu._locked.WriteRmw(linear, size, value);
        public (ulong Low, ulong High) Read16Rmw(ulong linear) => _cpu._locked.Read16Rmw(linear);
        public void Write16Rmw(ulong linear, ulong low, ulong high) => _cpu._locked.Write16Rmw(linear, low, high);
        public bool InLockedInstruction => _cpu._locked.InLockedInstruction;
        public void ExecuteAtomically(ref Instruction ins) => _cpu._locked.ExecuteAtomically(ref ins);

        public void MaterializeFlags() => _cpu.MaterializeFlags();
        public void SetFlag(ulong bit, bool on) => _cpu.SetFlag(bit, on);
        public void SetArithmeticFlags(ulong flags) => _cpu.SetArithmeticFlags(flags);
        public void SetMulFlags(ulong low, int size, bool overflow) => _cpu.SetMulFlags(low, size, overflow);
        public bool GetZf() => _cpu.GetZf();
        public bool GetCf() => _cpu.GetCf();
        public ulong ResultFlags(ulong result, int size) => X86Cpu.ResultFlags(result, size);
        public bool Condition(ConditionCode cc) => _cpu.Condition(cc);
        public void SetLazyAdcSbb(FlagOp op, int size, ulong a, ulong b, ulong result, bool carryIn) =>
            _cpu.SetLazyAdcSbb(op, size, a, b, result, carryIn);
        public void SetLazyIncDec(FlagOp op, int size, ulong a, ulong result) => _cpu.SetLazyIncDec(op, size, a, result);
        public ulong GetRflags() => _cpu.GetRflags();
        public void SetRflags(ulong value) => _cpu.SetRflags(value);
        public int IoPrivilegeLevel => _cpu.IoPrivilegeLevel;

        public int StackAddressSize => _cpu.StackAddressSize;
        public void Push(ulong value, int size) => _cpu.Push(value, size);
        public ulong Pop(int size) => _cpu.Pop(size);
        public ulong PeekStack(int offset, int size) => _cpu.PeekStack(offset, size);
        public void SetStackPointer(ulong value) => _cpu.SetStackPointer(value);
        public void PopSegmentRegister(int seg, int size) => _cpu.PopSegmentRegister(seg, size);
        public void LoadSegmentRegister(int seg, ushort selector) => _cpu.LoadSegmentRegister(seg, selector);

        public void JumpNear(ulong target) => _cpu.JumpNear(target);
        public bool ExecuteSystem(ref Instruction ins) => _cpu.ExecuteSystem(ref ins);
        public void EndBlock() => _cpu._endBlock = true;
        public void CheckVm86Iopl() => _cpu.CheckVm86Iopl();
        public void NoteTrapFlagClearedByLoad() => _cpu._singleStepClearedByLoad = true;

        public void CheckIoPermission(ushort port, int size) => _cpu.CheckIoPermission(port, size);
        public ulong PortRead(ushort port, int size) => _cpu.PortRead(port, size);
        public void PortWrite(ushort port, int size, ulong value) => _cpu.PortWrite(port, size, value);
        public bool HasPendingExit => _cpu._hasPendingExit;
        public void ForgetReplayedReads() => _cpu._replayCount = _cpu._replayNext = 0;
        public bool BulkStringsEnabled => _cpu.BulkStrings.Enabled;
        public int TryBulkString(bool movs, int size, int sourceSeg, int addressSize, int limit) =>
            _cpu.BulkStrings.TryRun(movs, size, sourceSeg, addressSize, limit);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void SetLazy(FlagOp op, int size, ulong a, ulong b, ulong result) => _cpu.SetLazy(op, size, a, b, result);

        [DoesNotReturn] public void Fault(int vector, uint errorCode) => _cpu.Fault(vector, errorCode);
        [DoesNotReturn] public void FaultNoCode(int vector) => _cpu.FaultNoCode(vector);
    }
}
