namespace Vessel.Hypervisor;

/// <summary>General registers, as kvm_regs.</summary>
public struct Registers
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;

    /// <summary>Register by its x86 encoding number (0 = RAX ... 15 = R15).</summary>
    public ulong this[int index]
    {
        readonly get => index switch
        {
            0 => Rax, 1 => Rcx, 2 => Rdx, 3 => Rbx, 4 => Rsp, 5 => Rbp, 6 => Rsi, 7 => Rdi,
            8 => R8, 9 => R9, 10 => R10, 11 => R11, 12 => R12, 13 => R13, 14 => R14, 15 => R15,
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
        set
        {
            switch (index)
            {
                case 0: Rax = value; break; case 1: Rcx = value; break; case 2: Rdx = value; break; case 3: Rbx = value; break;
                case 4: Rsp = value; break; case 5: Rbp = value; break; case 6: Rsi = value; break; case 7: Rdi = value; break;
                case 8: R8 = value; break; case 9: R9 = value; break; case 10: R10 = value; break; case 11: R11 = value; break;
                case 12: R12 = value; break; case 13: R13 = value; break; case 14: R14 = value; break; case 15: R15 = value; break;
                default: throw new ArgumentOutOfRangeException(nameof(index));
            }
        }
    }
}
