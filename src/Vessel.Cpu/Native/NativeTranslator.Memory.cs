using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Memory forms: loads, stores, ALU with memory, PUSH/POP, CALL/RET, each through an inline probe of the
/// vCPU's TLB exactly as <see cref="Mmu.Probe"/> does it. A miss (or a page-crossing access, MMIO, a page that is not
/// mapped yet) returns the instruction to the interpreter untouched, which walks the page tables and takes any fault
/// at the instruction's start. Stores go through the write TLB, which never maps a page holding decoded code (the
/// interpreter's write path does not fill it for such a page, and vCPUs drop write entries whenever a page becomes
/// watched, from a decode until the first write after it): a store into code always reaches the interpreter, which invalidates the stale blocks.</summary>
internal sealed partial class NativeTranslator
{
    private bool EmitMemoryForm(ref FastOp f, ref Instruction ins, int index)
    {
        int size = f.Size;
        switch (f.Kind)
        {
            case FastOpKind.LoadReg or FastOpKind.LoadZeroExtend or FastOpKind.LoadSignExtend:
            {
                int from = f.Kind == FastOpKind.LoadReg ? size : f.Operation;
                bool signed = f.Kind == FastOpKind.LoadSignExtend;
                EmitAccess(ref f, NativeLayout.ReadTlb, from, index);
                if (f.Kind == FastOpKind.LoadReg) LoadFromHost(size);
                else EmitExtend(__[rdx], from, size == 8, signed);
                _a.mov(GprQ(f.Destination), rax);
                break;
            }
            case FastOpKind.StoreReg:
                EmitAccess(ref f, NativeLayout.WriteTlb, size, index);
                _a.mov(rax, GprQ(f.Source));
                StoreRaxToHost(size);
                break;
            case FastOpKind.StoreImm:
                EmitAccess(ref f, NativeLayout.WriteTlb, size, index);
                switch (size)
                {
                    case 1: _a.mov(__byte_ptr[rdx], (byte)f.Immediate); break;
                    case 2: _a.mov(__word_ptr[rdx], (ushort)f.Immediate); break;
                    case 4: _a.mov(__dword_ptr[rdx], (int)f.Immediate); break;
                    default: _a.mov(__qword_ptr[rdx], (int)f.Immediate); break;
                }
                break;
            case FastOpKind.AluRegMem or FastOpKind.AluMemReg or FastOpKind.AluMemImm:
                EmitMemoryAlu(ref f, index);
                return true; // counts and restores on its own
            case FastOpKind.PushReg:
                _a.mov(r9, GprQ(4));
                _a.lea(r9, __[r9 - 8]);
                EmitProbe(NativeLayout.WriteTlb, 8, index);
                _a.mov(rax, GprQ(f.Source));
                _a.mov(__qword_ptr[rdx], rax);
                _a.mov(GprQ(4), r9);
                break;
            case FastOpKind.PopReg:
                _a.mov(r9, GprQ(4));
                EmitProbe(NativeLayout.ReadTlb, 8, index);
                _a.mov(rax, __qword_ptr[rdx]);
                _a.mov(GprQ(f.Destination), rax);
                _a.lea(r9, __[r9 + 8]);
                _a.mov(GprQ(4), r9);
                break;
            case FastOpKind.CallNear when LinearAddress.IsCanonical(f.Immediate):
                _a.mov(r9, GprQ(4));
                _a.lea(r9, __[r9 - 8]);
                EmitProbe(NativeLayout.WriteTlb, 8, index);
                _a.mov(rax, ins.NextIP);
                _a.mov(__qword_ptr[rdx], rax);
                _a.mov(GprQ(4), r9);
                EmitRestoreFlags();
                CountInstruction();
                EmitExitTo(f.Immediate);
                return true;
            default:
                return false;
        }
        EmitRestoreFlags();
        CountInstruction();
        return true;
    }

    /// <summary>reg op= [mem], [mem] op= reg/imm, CMP/TEST with memory. A read-modify-write probes the write TLB (a
    /// writable RAM page is readable). The flags are restored (where the probe saved them) only for ADC/SBB, which
    /// read CF; the rest set them all.</summary>
    private void EmitMemoryAlu(ref FastOp f, int index)
    {
        var op = (AluOperation)f.Operation;
        bool wide = f.Size == 8;
        bool readOnly = f.Kind == FastOpKind.AluRegMem || op is AluOperation.Cmp or AluOperation.Test;
        EmitAccess(ref f, readOnly ? NativeLayout.ReadTlb : NativeLayout.WriteTlb, f.Size, index);
        if (op is AluOperation.Adc or AluOperation.Sbb) EmitRestoreFlags();
        if (f.Kind == FastOpKind.AluRegMem)
        {
            LoadRax(f.Destination, wide);
            if (wide) _a.mov(rcx, __qword_ptr[rdx]); else _a.mov(ecx, __dword_ptr[rdx]);
            EmitAlu(op, wide, null);
            if (op != AluOperation.Cmp) _a.mov(GprQ(f.Destination), rax);
        }
        else
        {
            if (wide) _a.mov(rax, __qword_ptr[rdx]); else _a.mov(eax, __dword_ptr[rdx]);
            if (f.Kind == FastOpKind.AluMemReg)
            {
                LoadRcx(f.Source, wide);
                EmitAlu(op, wide, null);
            }
            else EmitAlu(op, wide, (int)f.Immediate);
            if (!readOnly) StoreRaxToHost(f.Size);
        }
        CountInstruction();
    }

    /// <summary>R9 = the linear address of the fast form's memory operand, then the probe: RDX = its host address.</summary>
    private void EmitAccess(ref FastOp f, int tlbOffset, int size, int index)
    {
        EmitEffectiveAddress(ref f);
        if (f.MemorySegment >= X86Cpu.FS)
        {
            _a.mov(rax, StateQ(CpuStateLayout.SegmentBaseAt(f.MemorySegment)));
            _a.lea(r9, __[r9 + rax]);
        }
        EmitProbe(tlbOffset, size, index);
    }

    /// <summary>R9 = the effective address (no segment base), masked to the address size; the flags stay.</summary>
    private void EmitEffectiveAddress(ref FastOp f)
    {
        if (f.MemoryBase != FastOp.NoRegister) _a.mov(r9, GprQ(f.MemoryBase));
        else _a.mov(r9d, 0);
        if (f.MemoryIndex != FastOp.NoRegister)
        {
            _a.mov(rcx, GprQ(f.MemoryIndex));
            _a.lea(r9, __[r9 + rcx * (1 << f.MemoryScaleShift)]);
        }
        long displacement = (long)f.Displacement;
        if (displacement == (int)displacement)
        {
            if (displacement != 0) _a.lea(r9, __[r9 + displacement]);
        }
        else
        {
            _a.mov(rax, (ulong)displacement);
            _a.lea(r9, __[r9 + rax]);
        }
        if (f.AddressMask != ulong.MaxValue) _a.mov(r9d, r9d);
    }

    private void LoadFromHost(int size)
    {
        if (size == 8) _a.mov(rax, __qword_ptr[rdx]); else _a.mov(eax, __dword_ptr[rdx]);
    }

    private void StoreRaxToHost(int size)
    {
        switch (size)
        {
            case 1: _a.mov(__byte_ptr[rdx], al); break;
            case 2: _a.mov(__word_ptr[rdx], ax); break;
            case 4: _a.mov(__dword_ptr[rdx], eax); break;
            default: _a.mov(__qword_ptr[rdx], rax); break;
        }
    }
}
