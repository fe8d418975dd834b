using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The user-visible state one differential case starts from or ends in: the 16 GPRs (x86 encoding
/// order RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15) and RFLAGS.</summary>
internal sealed class CpuState
{
    public readonly ulong[] Gpr = new ulong[16];
    public ulong Rflags;

    /// <summary>Flags a user-mode POPF can load and every case compares: the arithmetic flags and DF.</summary>
    public const ulong ComparedFlags = RflagsBits.Arithmetic | RflagsBits.Df;

    /// <summary>Bits always set on entry (reserved bit 1 and IF, which user mode cannot clear).</summary>
    public const ulong FixedFlags = RflagsBits.Reserved1 | RflagsBits.If;

    public CpuState Clone()
    {
        var c = new CpuState { Rflags = Rflags };
        Gpr.CopyTo(c.Gpr, 0);
        return c;
    }

    public static readonly string[] Names =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

    public override string ToString()
    {
        var parts = new List<string>();
        for (int i = 0; i < 16; i++) parts.Add($"{Names[i]}={Gpr[i]:x}");
        parts.Add($"rflags={Rflags:x}");
        return string.Join(' ', parts);
    }
}
