namespace Vessel.Cpu;

/// <summary>Architectural exception vectors.</summary>
public static class Vector
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8;
    public const int TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19;

    /// <summary>Vectors that push an error code when raised as exceptions.</summary>
    public static bool HasErrorCode(int vector) => vector is DF or TS or NP or SS or GP or PF or AC;
}

/// <summary>A guest fault raised while executing an instruction. It unwinds to the run loop, which
/// restores RIP to the faulting instruction and delivers the exception through the guest's IDT/IVT.
/// One instance per vCPU is reused so faults do not allocate.</summary>
internal sealed class CpuFault : Exception
{
    public int FaultVector;
    public uint ErrorCode;
    public bool HasErrorCode;

    /// <summary>Records <paramref name="vector"/> (with <paramref name="errorCode"/> where the vector has one) and
    /// unwinds to the run loop. The vCPU's instructions and its MMU's walk both raise through it.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public void Raise(int vector, uint errorCode)
    {
        FaultVector = vector;
        ErrorCode = errorCode;
        HasErrorCode = Vector.HasErrorCode(vector);
        throw this;
    }
}

/// <summary>Thrown to abandon the current instruction because it needs the VMM first (an IN or an
/// MMIO read); the instruction is executed again after <c>CompleteRead</c>.</summary>
internal sealed class ExitToVmm : Exception;
