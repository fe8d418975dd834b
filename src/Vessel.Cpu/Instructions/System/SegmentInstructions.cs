using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>Segment-related system instructions: far JMP/CALL/RET, INT n/INT3/INTO/INT1, IRET, LDS..LSS,
/// LLDT/LTR/SLDT/STR, LAR/LSL/VERR/VERW and ARPL. The transfers themselves are <see cref="FarTransfers"/>,
/// <see cref="EventDelivery"/> and <see cref="InterruptReturn"/>; this class decodes their operands.</summary>
internal sealed class SegmentInstructions
{
    private readonly ISystemInstructionCpu _cpu;
    private readonly CpuFault _fault;
    private readonly FarTransfers _far;
    private readonly EventDelivery _events;
    private readonly InterruptReturn _iret;
    private readonly DescriptorTables _descriptors;
    private readonly SegmentLoader _segments;

    public SegmentInstructions(ISystemInstructionCpu cpu, CpuFault fault, FarTransfers far, EventDelivery events,
        InterruptReturn iret, DescriptorTables descriptors, SegmentLoader segments)
    {
        _cpu = cpu;
        _fault = fault;
        _far = far;
        _events = events;
        _iret = iret;
        _descriptors = descriptors;
        _segments = segments;
    }

    private ref CpuState S => ref _cpu.State;

    /// <summary>Executes a segment-related system instruction; false if <paramref name="ins"/> is not one.</summary>
    public bool Execute(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Jmp:
            case Mnemonic.Call:
            {
                if (!ReadFarPointer(ref ins, out ushort selector, out ulong offset, out int size)) return false;
                if (ins.Mnemonic == Mnemonic.Jmp) _far.Jump(selector, offset);
                else _far.Call(selector, offset, size);
                return true;
            }
            case Mnemonic.Retf:
            {
                int size = ins.Code switch
                {
                    Code.Retfw or Code.Retfw_imm16 => 2,
                    Code.Retfd or Code.Retfd_imm16 => 4,
                    _ => 8,
                };
                _far.Return(size, ins.OpCount > 0 ? ins.Immediate16 : 0UL);
                return true;
            }
            case Mnemonic.Int: _events.CheckVm86Iopl(IoPrivilegeLevel); _cpu.DeliverEvent(ins.Immediate8, InterruptSource.Software, false, 0); return true;
            case Mnemonic.Int3: _cpu.DeliverEvent(Vector.BP, InterruptSource.SoftwareException, false, 0); return true;
            case Mnemonic.Into:
                if (_cpu.GetOf()) _cpu.DeliverEvent(Vector.OF, InterruptSource.SoftwareException, false, 0);
                return true;
            case Mnemonic.Int1: _cpu.DeliverEvent(Vector.DB, InterruptSource.PrivilegedSoftware, false, 0); return true;
            case Mnemonic.Iret: _iret.Execute(2); return true;
            case Mnemonic.Iretd: _iret.Execute(4); return true;
            case Mnemonic.Iretq: _iret.Execute(8); return true;

            case Mnemonic.Lds: LoadFarPointer(ref ins, DS); return true;
            case Mnemonic.Les: LoadFarPointer(ref ins, ES); return true;
            case Mnemonic.Lfs: LoadFarPointer(ref ins, FS); return true;
            case Mnemonic.Lgs: LoadFarPointer(ref ins, GS); return true;
            case Mnemonic.Lss: LoadFarPointer(ref ins, SS); return true;

            case Mnemonic.Ltr:
                _segments.LoadTaskRegister((ushort)_cpu.ReadOperand(ref ins, 0, 2));
                return true;
            case Mnemonic.Lldt:
                _segments.LoadLdtRegister((ushort)_cpu.ReadOperand(ref ins, 0, 2));
                _cpu.EndBlock();
                return true;
            case Mnemonic.Sldt: StoreSystemSelector(ref ins, S.Ldtr.Selector); return true;
            case Mnemonic.Str: StoreSystemSelector(ref ins, S.Tr.Selector); return true;
            case Mnemonic.Lar: ExecuteLarLsl(ref ins, limit: false); return true;
            case Mnemonic.Lsl: ExecuteLarLsl(ref ins, limit: true); return true;
            case Mnemonic.Verr: case Mnemonic.Verw: ExecuteVerify(ref ins); return true;
            case Mnemonic.Arpl: ExecuteArpl(ref ins); return true;
        }
        return false;
    }

    /// <summary>The selector and offset of a direct (ptr16:16/32) or indirect (m16:16/32/64) far JMP/CALL.</summary>
    private bool ReadFarPointer(ref Instruction ins, out ushort selector, out ulong offset, out int size)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.FarBranch16:
                selector = ins.FarBranchSelector;
                offset = ins.FarBranch16;
                size = 2;
                return true;
            case OpKind.FarBranch32:
                selector = ins.FarBranchSelector;
                offset = ins.FarBranch32;
                size = 4;
                return true;
            case OpKind.Memory when ins.IsJmpFarIndirect || ins.IsCallFarIndirect:
                size = MemorySizeOf(ref ins) - 2;
                ReadFarPointerOperand(ref ins, size, out selector, out offset);
                return true;
        }
        selector = 0;
        offset = 0;
        size = 0;
        return false;
    }

    /// <summary>Reads an m16:16/32/64 operand: the offset, then the selector after it.</summary>
    private void ReadFarPointerOperand(ref Instruction ins, int offsetSize, out ushort selector, out ulong offset)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = _cpu.EffectiveAddress(ref ins);
        offset = _cpu.ReadVirtual(seg, ea, offsetSize);
        selector = (ushort)_cpu.ReadVirtual(seg, ea + (ulong)offsetSize, 2);
    }

    /// <summary>LDS/LES/LFS/LGS/LSS: the selector goes through the segment load checks before the register is written.</summary>
    private void LoadFarPointer(ref Instruction ins, int seg)
    {
        if (ins.Op1Kind != OpKind.Memory) _fault.Raise(Vector.UD, 0);
        int size = RegisterTable.Size[(int)ins.Op0Register];
        ReadFarPointerOperand(ref ins, size, out ushort selector, out ulong offset);
        _segments.Load(seg, selector);
        _cpu.WriteGpr(ins.Op0Register, offset);
        _cpu.EndBlock();
    }

    private void RequireProtectedMode()
    {
        if (!S.ProtectedMode || S.Vm86Mode) _fault.Raise(Vector.UD, 0);
    }

    /// <summary>SLDT/STR: a register destination gets the selector zero-extended, memory gets 16 bits.</summary>
    private void StoreSystemSelector(ref Instruction ins, ushort selector)
    {
        RequireProtectedMode();
        if ((S.Cr4 & ControlRegisters.Cr4Umip) != 0 && S.Cpl > 0) _fault.Raise(Vector.GP, 0);
        if (ins.Op0Kind == OpKind.Register) _cpu.WriteGpr(ins.Op0Register, selector);
        else _cpu.WriteMemoryOperand(ref ins, 2, selector);
    }

    /// <summary>Reads the descriptor a LAR/LSL/VERR/VERW selector names, if it is visible at the current CPL and RPL.</summary>
    private bool TryReadVisibleDescriptor(ushort selector, out SegmentDescriptor d)
    {
        if ((selector & 0xFFFC) == 0 || !_descriptors.TryRead(selector, out d, out _))
        {
            d = default;
            return false;
        }
        if (d.IsConformingCode) return true;
        return d.Dpl >= S.Cpl && d.Dpl >= (selector & 3);
    }

    private void ExecuteLarLsl(ref Instruction ins, bool limit)
    {
        RequireProtectedMode();
        ushort selector = (ushort)_cpu.ReadOperand(ref ins, 1, 2);
        bool valid = TryReadVisibleDescriptor(selector, out SegmentDescriptor d);
        if (valid && !d.CodeOrData) valid = IsLarLslSystemType(d.Type, limit);
        SetZf(valid);
        if (!valid) return;
        int size = RegisterTable.Size[(int)ins.Op0Register];
        ulong value = limit ? d.Limit : (d.Low >> 32) & (size == 2 ? 0xFF00UL : 0x00F0_FF00UL);
        _cpu.WriteGpr(ins.Op0Register, size == 2 ? value & 0xFFFF : value);
    }

    private bool IsLarLslSystemType(byte type, bool limit)
    {
        if (S.LongModeActive) return type is SystemType.Ldt or SystemType.Tss32Available or SystemType.Tss32Busy
            || (!limit && type == SystemType.CallGate32);
        return type is SystemType.Tss16Available or SystemType.Ldt or SystemType.Tss16Busy
            or SystemType.Tss32Available or SystemType.Tss32Busy
            || (!limit && type is SystemType.CallGate16 or SystemType.TaskGate or SystemType.CallGate32);
    }

    private void ExecuteVerify(ref Instruction ins)
    {
        RequireProtectedMode();
        ushort selector = (ushort)_cpu.ReadOperand(ref ins, 0, 2);
        bool valid = TryReadVisibleDescriptor(selector, out SegmentDescriptor d) && d.CodeOrData
            && (ins.Mnemonic == Mnemonic.Verr ? d.IsReadable : d.IsWritableData);
        SetZf(valid);
    }

    /// <summary>ARPL (16/32-bit modes only; 0x63 is MOVSXD in 64-bit mode).</summary>
    private void ExecuteArpl(ref Instruction ins)
    {
        RequireProtectedMode();
        ulong destination = _cpu.ReadModifyTarget(ref ins, 2);
        ulong source = _cpu.ReadGpr(ins.Op1Register);
        bool adjust = (destination & 3) < (source & 3);
        if (adjust) _cpu.WriteModifyTarget(ref ins, 2, (destination & ~3UL) | (source & 3));
        SetZf(adjust);
    }

    private int IoPrivilegeLevel => (int)((S.Rflags >> 12) & 3);

    private void SetZf(bool on)
    {
        ulong flags = _cpu.GetRflags();
        _cpu.SetRflags(on ? flags | Zf : flags & ~Zf);
    }
}
