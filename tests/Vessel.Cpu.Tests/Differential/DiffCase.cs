using Iced.Intel;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>One generated case: the instruction bytes, the starting state and window, where its operands live,
/// and what the architecture leaves undefined for these inputs.</summary>
internal sealed class DiffCase
{
    public required Instruction Instruction { get; init; }
    public required byte[] Code { get; init; }
    public required CpuState Input { get; init; }
    public required byte[] Window { get; init; }
    public ulong UndefinedFlags { get; set; }
    /// <summary>A register whose final value is undefined (BSF/BSR of zero), or -1.</summary>
    public int UndefinedRegister { get; set; } = -1;

    public string Text => $"{Instruction} [{Convert.ToHexString(Code)}]";
}

/// <summary>Where things sit in the window (the same linear addresses natively and in the guest).</summary>
internal static class WindowLayout
{
    public const int DataBytes = 10240, StackOffset = 10240, WindowBytes = 14336, StackTop = 12288;
    /// <summary>Memory operands land around here, so bit offsets of ±4 KiB stay inside the data area.</summary>
    public const int MemoryCenter = 5120;
}
