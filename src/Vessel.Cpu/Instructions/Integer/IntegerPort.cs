using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Iced.Intel;
using FlagOp = Vessel.Cpu.X86Cpu.FlagOp;

namespace Vessel.Cpu;

/// <summary>The integer units' handle on the CPU: a struct holding only the CPU, so a unit generic over it is
/// compiled for it and every member below is a direct (mostly inlined) call, with no virtual dispatch. The flags
/// go straight to <see cref="LazyFlags"/> over the state block, memory to <see cref="GuestMemoryAccess"/>, the
/// read-modify-writes to <see cref="LockedAccess"/> and REP MOVS/STOS to <see cref="Vessel.Cpu.BulkStrings"/>.</summary>
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
    public ulong ReadLinear(ulong linear, int size, bool user) => _cpu.MemoryAccess.ReadLinear(linear, size, user);
    public ulong ReadVirtual(int seg, ulong offset, int size) => _cpu.ReadVirtual(seg, offset, size);
    public void WriteVirtual(int seg, ulong offset, int size, ulong value) => _cpu.WriteVirtual(seg, offset, size, value);
    public ulong ReadRmw(ulong linear, int size) => _cpu.Locked.ReadRmw(linear, size);
    public void WriteRmw(ulong linear, int size, ulong value) => _cpu.Locked.WriteRmw(linear, size, value);
    public (ulong Low, ulong High) Read16Rmw(ulong linear) => _cpu.Locked.Read16Rmw(linear);
    public void Write16Rmw(ulong linear, ulong low, ulong high) => _cpu.Locked.Write16Rmw(linear, low, high);
    public bool InLockedInstruction => _cpu.Locked.InLockedInstruction;
    public void ExecuteAtomically(ref Instruction ins) => _cpu.Locked.ExecuteAtomically(ref ins);

    public void MaterializeFlags() => LazyFlags.MaterializeFlags(ref _cpu.State);
    public void SetFlag(ulong bit, bool on) => LazyFlags.SetFlag(ref _cpu.State, bit, on);
    public void SetArithmeticFlags(ulong flags) => LazyFlags.SetArithmeticFlags(ref _cpu.State, flags);
    public void SetMulFlags(ulong low, int size, bool overflow) => _cpu.SetMulFlags(low, size, overflow);
    public bool GetZf() => LazyFlags.GetZf(ref _cpu.State);
    public bool GetCf() => LazyFlags.GetCf(ref _cpu.State);
    public ulong ResultFlags(ulong result, int size) => LazyFlags.ResultFlags(result, size);
    public bool Condition(ConditionCode cc) => LazyFlags.Condition(ref _cpu.State, cc);
    public void SetLazyAdcSbb(FlagOp op, int size, ulong a, ulong b, ulong result, bool carryIn) =>
        LazyFlags.SetLazyAdcSbb(ref _cpu.State, op, size, a, b, result, carryIn);
    public void SetLazyIncDec(FlagOp op, int size, ulong a, ulong result) => LazyFlags.SetLazyIncDec(ref _cpu.State, op, size, a, result);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLazy(FlagOp op, int size, ulong a, ulong b, ulong result) => LazyFlags.SetLazy(ref _cpu.State, op, size, a, b, result);
    public ulong GetRflags() => LazyFlags.GetRflags(ref _cpu.State);
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
    public void EndBlock() => _cpu.EndBlock();
    public void CheckVm86Iopl() => _cpu.CheckVm86Iopl();
    public void NoteTrapFlagClearedByLoad() => _cpu.NoteTrapFlagClearedByLoad();

    public void CheckIoPermission(ushort port, int size) => _cpu.CheckIoPermission(port, size);
    public ulong PortRead(ushort port, int size) => _cpu.PortRead(port, size);
    public void PortWrite(ushort port, int size, ulong value) => _cpu.PortWrite(port, size, value);
    public bool HasPendingExit => _cpu.HasPendingExit;
    public void ForgetReplayedReads() => _cpu.ForgetReplayedReads();
    public bool BulkStringsEnabled => _cpu.BulkStrings.Enabled;
    public int TryBulkString(bool movs, int size, int sourceSeg, int addressSize, int limit) =>
        _cpu.BulkStrings.TryRun(movs, size, sourceSeg, addressSize, limit);

    [DoesNotReturn] public void Fault(int vector, uint errorCode) => _cpu.Fault(vector, errorCode);
    [DoesNotReturn] public void FaultNoCode(int vector) => _cpu.FaultNoCode(vector);
}
