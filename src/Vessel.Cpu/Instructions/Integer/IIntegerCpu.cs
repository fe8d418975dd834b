using System.Diagnostics.CodeAnalysis;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>The vCPU as the integer instruction units (<see cref="MultiplyDivideUnit{TCpu}"/>,
/// <see cref="BitUnit{TCpu}"/>, <see cref="NearBranchUnit{TCpu}"/>, <see cref="StackUnit{TCpu}"/>, <see cref="StringUnit{TCpu}"/>,
/// <see cref="ArithmeticUnit{TCpu}"/>, <see cref="ShiftUnit{TCpu}"/>, <see cref="DataMovementUnit{TCpu}"/>) see it: the
/// state block, decoded operands, memory, the lazy flags, the stack primitives and near jumps. The units are
/// generic over a struct implementing it (<see cref="IntegerPort"/>), so the runtime compiles them for that
/// struct and each call here is a direct call into the CPU, not an interface dispatch per instruction.</summary>
internal interface IIntegerCpu
{
    /// <summary>General registers, RIP, RFLAGS, the lazy-flag fields, control registers, segments.</summary>
    ref CpuState State { get; }

    ulong ReadOperand(ref Instruction ins, int n, int size);
    void WriteOperand(ref Instruction ins, int n, int size, ulong value);
    ulong ReadGpr(Register reg);
    /// <summary>Writes with x86-64 semantics: 32-bit writes zero the upper half, 8/16-bit writes merge.</summary>
    void WriteGpr(Register reg, ulong value);
    /// <summary>Writes the low <paramref name="size"/> bytes of general register <paramref name="index"/>.</summary>
    void WriteGprSized(int index, int size, ulong value);
    /// <summary>Offset of the memory operand within its segment, wrapped to the address size.</summary>
    ulong EffectiveAddress(ref Instruction ins);
    /// <summary>Address size (2, 4 or 8) of the memory operand.</summary>
    int AddressSize(ref Instruction ins);
    ulong ReadMemoryOperand(ref Instruction ins, int size);
    void WriteMemoryOperand(ref Instruction ins, int size, ulong value);
    /// <summary>Reads the destination of a read-modify-write, checking first that it is writable.</summary>
    ulong ReadModifyTarget(ref Instruction ins, int size);
    /// <summary>Writes the destination <see cref="ReadModifyTarget"/> read.</summary>
    void WriteModifyTarget(ref Instruction ins, int size, ulong value);

    bool UserAccess { get; }
    /// <summary>The linear address of seg:offset after the segment checks of the current mode.</summary>
    ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind);
    ulong ReadLinear(ulong linear, int size, bool user);
    ulong ReadVirtual(int seg, ulong offset, int size);
    void WriteVirtual(int seg, ulong offset, int size, ulong value);
    /// <summary>Reads the destination of a read-modify-write at a checked linear address.</summary>
    ulong ReadRmw(ulong linear, int size);
    void WriteRmw(ulong linear, int size, ulong value);
    /// <summary>CMPXCHG16B's destination, both halves in one access (atomic inside a locked instruction).</summary>
    (ulong Low, ulong High) Read16Rmw(ulong linear);
    void Write16Rmw(ulong linear, ulong low, ulong high);
    /// <summary>A LOCKed instruction (or XCHG with memory) is running: its accesses are already atomic.</summary>
    bool InLockedInstruction { get; }
    /// <summary>Runs the instruction as an atomic read-modify-write of memory.</summary>
    void ExecuteAtomically(ref Instruction ins);

    /// <summary>Folds the pending lazy flags into RFLAGS.</summary>
    void MaterializeFlags();
    void SetFlag(ulong bit, bool on);
    /// <summary>Sets the six arithmetic flags from an eagerly computed value.</summary>
    void SetArithmeticFlags(ulong flags);
    /// <summary>The flags of a multiply: ZF/SF/PF from the low result, CF and OF from <paramref name="overflow"/>.</summary>
    void SetMulFlags(ulong low, int size, bool overflow);
    bool GetZf();
    bool GetCf();
    /// <summary>ZF, SF and PF of a result of <paramref name="size"/> bytes.</summary>
    ulong ResultFlags(ulong result, int size);
    bool Condition(ConditionCode cc);
    /// <summary>ADC/SBB: the lazy flags, with the carry-in the flag evaluation needs.</summary>
    void SetLazyAdcSbb(X86Cpu.FlagOp op, int size, ulong a, ulong b, ulong result, bool carryIn);
    /// <summary>INC/DEC: the lazy flags, CF kept.</summary>
    void SetLazyIncDec(X86Cpu.FlagOp op, int size, ulong a, ulong result);
    ulong GetRflags();
    void SetRflags(ulong value);
    int IoPrivilegeLevel { get; }

    /// <summary>Stack address size in bytes: 8 in 64-bit mode, else SS.B.</summary>
    int StackAddressSize { get; }
    void Push(ulong value, int size);
    ulong Pop(int size);
    /// <summary>Reads SS:RSP+<paramref name="offset"/> without moving RSP.</summary>
    ulong PeekStack(int offset, int size);
    /// <summary>Writes RSP with the current stack address size (the upper bits of a 16-bit stack stay).</summary>
    void SetStackPointer(ulong value);
    /// <summary>POP to a segment register: loads it from the stack top, then releases the slot.</summary>
    void PopSegmentRegister(int seg, int size);
    /// <summary>MOV to a segment register (not CS): the load, and the interrupt shadow after SS.</summary>
    void LoadSegmentRegister(int seg, ushort selector);

    /// <summary>Sets RIP to a near target after the CS limit (or canonical) check.</summary>
    void JumpNear(ulong target);
    /// <summary>Executes a far or system form of the instruction; false if it is none.</summary>
    bool ExecuteSystem(ref Instruction ins);
    /// <summary>The current block stops after this instruction (IF, TF or the mode may have changed).</summary>
    void EndBlock();
    /// <summary>#GP(0) in virtual-8086 mode below IOPL 3 (PUSHF, POPF).</summary>
    void CheckVm86Iopl();
    /// <summary>A load cleared TF: the instruction that did it still traps, as TF was set when it began.</summary>
    void NoteTrapFlagClearedByLoad();

    /// <summary>#GP(0) unless CPL and IOPL, or the TSS's I/O permission bitmap, allow the ports.</summary>
    void CheckIoPermission(ushort port, int size);
    ulong PortRead(ushort port, int size);
    void PortWrite(ushort port, int size, ulong value);
    /// <summary>The VMM has an exit of this instruction to handle (a device access): stop and resume later.</summary>
    bool HasPendingExit { get; }
    /// <summary>The device reads replayed so far belong to finished iterations: a resumed string instruction
    /// starts after them.</summary>
    void ForgetReplayedReads();
    /// <summary>REP MOVS/STOS may run in bulk (off in tests that compare the bulk path with the element loop).</summary>
    bool BulkStringsEnabled { get; }
    /// <summary>Runs up to <paramref name="limit"/> iterations of REP MOVS or STOS as one host copy or fill where the
    /// TLBs map the pages to RAM; returns how many (0: the element loop must run the next one).</summary>
    int TryBulkString(bool movs, int size, int sourceSeg, int addressSize, int limit);
    /// <summary>Records a flag-setting operation for the lazy flags.</summary>
    void SetLazy(X86Cpu.FlagOp op, int size, ulong a, ulong b, ulong result);

    [DoesNotReturn] void Fault(int vector, uint errorCode);
    [DoesNotReturn] void FaultNoCode(int vector);
}
