using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>SSE forms re-hosted: the guest's instruction runs on the host with its XMM operands loaded from the
/// state block (<see cref="CpuStateLayout.XmmAt"/>) into host XMM0 (first operand) and XMM1 (second), a general
/// register operand in RAX (first) or RCX (second) at its size, a memory operand at [RDX] after the TLB probe; the
/// written register goes back to the state. Only forms whose result the host computes exactly as the interpreter
/// does are taken: integer SSE, bitwise logic, shuffles and moves (<see cref="NativeSseForms"/>), and the
/// floating-point forms (<see cref="NativeSseFloatForms"/>), which run with the guest's MXCSR loaded into the host's
/// and are handed back while the guest unmasks any exception. Before the access: the SSE gate (<see cref="NativeContext.SseBlocked"/>) and, for an m128 operand that
/// must be aligned, the alignment, each handing the instruction to the interpreter (which raises #UD, #NM or #GP at
/// the instruction) rather than letting the host fault. Reaches the translator through its facade (`NativeTranslator.Emitters.cs`).</summary>
internal sealed class NativeSseEmitter(NativeTranslator t)
{
    /// <summary>On unless VESSEL_NATIVE_SSE=0 (then every SSE form is handed back, as before: for A/B measurements).</summary>
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_NATIVE_SSE") != "0";

    /// <summary>On unless VESSEL_NATIVE_SSE_FLOAT=0 (then the floating-point forms are handed back: for A/B measurements).
    /// Needs BMI2 for the flag-neutral test of MXCSR's masks.</summary>
    internal static readonly bool FloatEnabled = Environment.GetEnvironmentVariable("VESSEL_NATIVE_SSE_FLOAT") != "0" && HostCpuFeatures.Bmi2;

    private Assembler A => t.Asm;

    /// <summary>Emits instruction <paramref name="index"/> (a Generic form); false leaves it to the interpreter.</summary>
    public bool TryEmit(ref Instruction ins, int index)
    {
        if (!Enabled || !IsTranslated(ref ins) || !TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;
        int memorySize = memory.AddressMask != 0 ? ins.MemorySize.GetSize() : 0;
        bool mustAlign = memorySize == 16 && !SimdUnit.UnalignedAllowed(ins.Mnemonic);
        if (memorySize is not (0 or 2 or 4 or 8 or 16)) return false;
        bool floating = NativeSseFloatForms.Contains(ins.Mnemonic);
        Label handBack = t.HandBackLabel(index);
        EmitGate(handBack);
        if (floating) EmitUnmaskedExceptionCheck(handBack);
        if (memorySize != 0)
        {
            t.EffectiveAddress(ref memory);
            if (memory.MemorySegment >= X86Cpu.FS)
            {
                A.mov(rax, NativeTranslator.StateQ(CpuStateLayout.SegmentBaseAt(memory.MemorySegment)));
                A.lea(r9, __[r9 + rax]);
            }
            if (mustAlign) EmitAlignmentCheck(handBack);
            bool store = ins.Op0Kind == OpKind.Memory;
            t.Probe(store ? NativeLayout.WriteTlb : NativeLayout.ReadTlb, memorySize, index);
            t.RestoreFlags();
        }
        if (floating) EmitGuestMxcsrIn();
        LoadOperands(ref ins);
        A.AddInstruction(host);
        StoreDestination(ref ins);
        t.Count();
        return true;
    }

    /// <summary>To <paramref name="handBack"/> while the context says SSE faults (JRCXZ: the flags stay).</summary>
    private void EmitGate(Label handBack)
    {
        Label open = A.CreateLabel();
        A.mov(ecx, __dword_ptr[rsi + NativeLayout.SseBlocked]);
        A.jrcxz(open);
        A.jmp(handBack);
        A.Label(ref open);
    }

    /// <summary>To <paramref name="handBack"/> when the guest's MXCSR unmasks any exception (a bit of 7-12 clear): the
    /// interpreter then raises #XM where the instruction signals one. NOT and SHLX/SHRX leave the flags.</summary>
    private void EmitUnmaskedExceptionCheck(Label handBack)
    {
        Label masked = A.CreateLabel();
        A.mov(ecx, __dword_ptr[rdi + CpuStateLayout.Mxcsr]);
        A.not(ecx);
        A.mov(eax, 19);
        A.shlx(ecx, ecx, eax); // bits 7-12 to 26-31
        A.mov(eax, 26);
        A.shrx(ecx, ecx, eax);
        A.jrcxz(masked);
        A.jmp(handBack);
        A.Label(ref masked);
    }

    /// <summary>Before a floating-point form (its operands not yet in RAX, RCX): the guest's MXCSR in the host's
    /// (rounding, DAZ, FTZ; every exception masked, checked before). The first such form of a run of translated code swaps the guest's MXCSR in (the host's kept in the
    /// context); it stays in through chained blocks until the return (<see cref="EmitReturn"/>) swaps it out with the
    /// sticky flags the forms raised, since an LDMXCSR per form would cost several times the form. MOV, LEA and
    /// JRCXZ leave the flags, so COMISx/UCOMISx leave theirs as the guest's.</summary>
    private void EmitGuestMxcsrIn()
    {
        Label loaded = A.CreateLabel();
        A.mov(ecx, __dword_ptr[rsi + NativeLayout.GuestMxcsrLoaded]);
        A.lea(ecx, __[rcx - 1]);
        A.jrcxz(loaded);
        A.stmxcsr(__dword_ptr[rsi + NativeLayout.HostMxcsr]);
        A.ldmxcsr(__dword_ptr[rdi + CpuStateLayout.Mxcsr]);
        A.mov(__dword_ptr[rsi + NativeLayout.GuestMxcsrLoaded], 1);
        A.Label(ref loaded);
    }

    private Label? _restoreAndReturn;

    /// <summary>The translated code's return (RAX holds its result, the flags are free): through the restore below
    /// while the guest's MXCSR is in the host's.</summary>
    public void EmitReturn()
    {
        if (FloatEnabled)
        {
            _restoreAndReturn ??= A.CreateLabel();
            A.cmp(__dword_ptr[rsi + NativeLayout.GuestMxcsrLoaded], 0);
            A.jne(_restoreAndReturn.Value);
        }
        A.ret();
    }

    /// <summary>Once per block, after its out-of-line code: the guest's MXCSR (with its sticky flags) back to the
    /// state, the host's back in the host, then the return.</summary>
    public void EmitMxcsrRestoringReturn()
    {
        if (_restoreAndReturn is not { } label) return;
        A.Label(ref label);
        A.stmxcsr(__dword_ptr[rdi + CpuStateLayout.Mxcsr]);
        A.ldmxcsr(__dword_ptr[rsi + NativeLayout.HostMxcsr]);
        A.mov(__dword_ptr[rsi + NativeLayout.GuestMxcsrLoaded], 0);
        A.ret();
    }

    /// <summary>To <paramref name="handBack"/> when R9 (the linear address) is not 16-byte aligned: its low four
    /// bits shifted to the top with SHLX, then JRCXZ (the flags stay).</summary>
    private void EmitAlignmentCheck(Label handBack)
    {
        Label aligned = A.CreateLabel();
        A.mov(ecx, 60);
        A.shlx(rcx, r9, rcx);
        A.jrcxz(aligned);
        A.jmp(handBack);
        A.Label(ref aligned);
    }

    private void LoadOperands(ref Instruction ins)
    {
        for (int k = 0; k < 2 && k < ins.OpCount; k++)
        {
            if (ins.GetOpKind(k) != OpKind.Register) continue;
            Register r = ins.GetOpRegister(k);
            if (IsXmm(r))
            {
                if (k == 0 && !ReadsDestination(ref ins)) continue;
                A.movups(k == 0 ? xmm0 : xmm1, __xmmword_ptr[rdi + CpuStateLayout.XmmAt(r - Register.XMM0)]);
                continue;
            }
            AssemblerMemoryOperand slot = NativeTranslator.Slot(r);
            switch (RegisterTable.Size[(int)r], k == 0)
            {
                case (4, true): A.mov(eax, __dword_ptr[slot]); break;
                case (_, true): A.mov(rax, __qword_ptr[slot]); break;
                case (4, false): A.mov(ecx, __dword_ptr[slot]); break;
                default: A.mov(rcx, __qword_ptr[slot]); break;
            }
        }
    }

    private void StoreDestination(ref Instruction ins)
    {
        if (ins.Op0Kind != OpKind.Register || ins.Mnemonic == Mnemonic.Ptest || NativeSseFloatForms.SetsFlags(ins.Mnemonic)) return;
        Register r = ins.Op0Register;
        if (IsXmm(r)) A.movups(__xmmword_ptr[rdi + CpuStateLayout.XmmAt(r - Register.XMM0)], xmm0);
        else t.StoreRaxToSlot(r);
    }

    private static bool IsXmm(Register r) => r >= Register.XMM0 && r <= Register.XMM15;

    /// <summary>Whether the instruction's result depends on its XMM destination's old value (a move that writes
    /// the whole register does not).</summary>
    private static bool ReadsDestination(ref Instruction ins)
    {
        bool fromMemory = ins.Op1Kind == OpKind.Memory;
        return ins.Mnemonic switch
        {
            Mnemonic.Movaps or Mnemonic.Movapd or Mnemonic.Movups or Mnemonic.Movupd or Mnemonic.Movdqa
                or Mnemonic.Movdqu or Mnemonic.Movd or Mnemonic.Movq or Mnemonic.Pshufd or Mnemonic.Pshuflw
                or Mnemonic.Pshufhw or Mnemonic.Movddup or Mnemonic.Movshdup or Mnemonic.Movsldup => false,
            Mnemonic.Movss or Mnemonic.Movsd => !fromMemory,
            _ => !NativeSseForms.IsWidening(ins.Mnemonic) && !NativeSseFloatForms.WritesWholeDestination(ins.Mnemonic),
        };
    }

    /// <summary>The host's copy of <paramref name="ins"/> with its operands moved (see the class) and the memory
    /// operand's form (AddressMask 0 when there is none); false for operands this tier does not move.</summary>
    private static bool TryRehost(ref Instruction ins, out Instruction host, out FastOp memory)
    {
        host = ins;
        host.IP = 0;
        memory = default;
        if (ins.OpCount is 0 or > 3) return false;
        for (int k = 0; k < ins.OpCount; k++)
        {
            switch (ins.GetOpKind(k))
            {
                case OpKind.Register when k < 2:
                {
                    Register r = ins.GetOpRegister(k);
                    if (IsXmm(r)) host.SetOpRegister(k, k == 0 ? Register.XMM0 : Register.XMM1);
                    else if (r.IsGPR32() || r.IsGPR64())
                        host.SetOpRegister(k, NativeTranslator.HostRegister(k == 0 ? Register.RAX : Register.RCX, RegisterTable.Size[(int)r]));
                    else return false;
                    break;
                }
                case OpKind.Memory:
                    if (!X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
                    NativeTranslator.MemoryOperandAtRdx(ref host);
                    break;
                case OpKind.Immediate8 when k == ins.OpCount - 1:
                    break;
                default:
                    return false;
            }
        }
        return NativeTranslator.HostEncodes(ref host);
    }

    /// <summary>A legacy-encoded form of <see cref="NativeSseForms"/> the host has the extension for.</summary>
    private static bool IsTranslated(ref Instruction ins)
    {
        if (ins.Encoding != EncodingKind.Legacy || ins.HasLockPrefix) return false;
        if (!NativeSseForms.Contains(ins.Mnemonic) && !(FloatEnabled && NativeSseFloatForms.Contains(ins.Mnemonic))) return false;
        if (SimdUnit.IsMmxForm(ref ins)) return false;
        // The alignment check needs SHLX.
        if (ins.MemorySize.GetSize() == 16 && !HostCpuFeatures.Bmi2) return false;
        foreach (CpuidFeature feature in ins.Code.CpuidFeatures())
        {
            bool hostHas = feature switch
            {
                CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.X64 => true,
                CpuidFeature.SSE3 => HostCpuFeatures.Sse3,
                CpuidFeature.SSSE3 => HostCpuFeatures.Ssse3,
                CpuidFeature.SSE4_1 => HostCpuFeatures.Sse41,
                CpuidFeature.SSE4_2 => HostCpuFeatures.Sse42,
                _ => false,
            };
            if (!hostHas) return false;
        }
        return true;
    }
}
