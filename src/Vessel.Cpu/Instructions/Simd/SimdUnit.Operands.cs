using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>XMM and memory operand access.</summary>
internal sealed partial class SimdUnit
{
    /// <summary>MXCSR bits software may set (DAZ included); also the MXCSR_MASK FXSAVE reports.</summary>
    internal const uint MxcsrWritableMask = 0xFFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsXmm(Register r) => r >= Register.XMM0 && r <= Register.XMM15;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int XmmIndex(Register r) => r - Register.XMM0;

    private ulong NextQword(ulong lin) => IsLongMode64 ? lin + 8 : (lin + 8) & 0xFFFF_FFFFUL;

    private Vector128<byte> ReadLinear128(ulong lin)
    {
        bool user = UserAccess;
        ulong lo = ReadLinear(lin, 8, user);
        ulong hi = ReadLinear(NextQword(lin), 8, user);
        return Vector128.Create(lo, hi).AsByte();
    }

    /// <summary>Writes 16 bytes; the high half goes first so a fault on either page leaves memory
    /// unchanged unless only the low page faults, and then the retried store rewrites the same bytes.</summary>
    private void WriteLinear128(ulong lin, Vector128<byte> v)
    {
        var q = v.AsUInt64();
        bool user = UserAccess;
        WriteLinear(NextQword(lin), 8, q.GetElement(1), user);
        WriteLinear(lin, 8, q.GetElement(0), user);
    }

    /// <summary>Instructions whose legacy-SSE m128 operand need not be 16-byte aligned.</summary>
    internal static bool UnalignedAllowed(Mnemonic m) => m is Mnemonic.Movups or Mnemonic.Movupd or Mnemonic.Movdqu
        or Mnemonic.Lddqu or Mnemonic.Pcmpestri or Mnemonic.Pcmpestrm or Mnemonic.Pcmpistri or Mnemonic.Pcmpistrm
        or Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm64;

    /// <summary>Operand <paramref name="n"/> as a 128-bit value: an XMM register, or memory of the operand's
    /// size zero-extended (m128 operands are alignment-checked unless the instruction allows otherwise).</summary>
    private Vector128<byte> ReadXmmOperand(ref Instruction ins, int n)
    {
        if (ins.GetOpKind(n) == OpKind.Register)
        {
            Register r = ins.GetOpRegister(n);
            return IsXmm(r) ? Xmm[XmmIndex(r)] : Vector128.CreateScalar(ReadGpr(r)).AsByte();
        }
        int size = MemorySizeOf(ref ins);
        if (size == 16)
            return ReadLinear128(SseLinear(ref ins, 16, AccessKind.Read, UnalignedAllowed(ins.Mnemonic) ? 0 : 16));
        return Vector128.CreateScalar(ReadMemoryOperand(ref ins, size)).AsByte();
    }

    /// <summary>Stores to operand 0: a whole XMM register, or memory of the operand's size from the low bytes.</summary>
    private void WriteXmmOperand(ref Instruction ins, Vector128<byte> v, bool aligned)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            Register r = ins.Op0Register;
            if (IsXmm(r)) Xmm[XmmIndex(r)] = v;
            else WriteGpr(r, v.AsUInt64().GetElement(0));
            return;
        }
        int size = MemorySizeOf(ref ins);
        if (size == 16) WriteLinear128(SseLinear(ref ins, 16, AccessKind.Write, aligned ? 16 : 0), v);
        else WriteMemoryOperand(ref ins, size, v.AsUInt64().GetElement(0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Vector128<byte> Xmm0(ref Instruction ins) => ref Xmm[XmmIndex(ins.Op0Register)];
}
