using System.Text;
using Vessel.Hypervisor;

namespace Vessel.Vmm.Exits;

/// <summary>A vCPU's registers as text, for the log when a VM ends on a triple fault or an internal error
/// (what QEMU prints with -d cpu_reset): enough to find the failing instruction.</summary>
internal static class VcpuStateDump
{
    public static string Describe(IVcpu vcpu)
    {
        try
        {
            Registers r = vcpu.GetRegisters();
            SpecialRegisters s = vcpu.GetSpecialRegisters();
            var b = new StringBuilder();
            b.Append($"RIP={r.Rip:x16} RFLAGS={r.Rflags:x8} CPL={s.Cs.Dpl}\n");
            b.Append($"RAX={r.Rax:x16} RBX={r.Rbx:x16} RCX={r.Rcx:x16} RDX={r.Rdx:x16}\n");
            b.Append($"RSI={r.Rsi:x16} RDI={r.Rdi:x16} RBP={r.Rbp:x16} RSP={r.Rsp:x16}\n");
            b.Append($"R8 ={r.R8:x16} R9 ={r.R9:x16} R10={r.R10:x16} R11={r.R11:x16}\n");
            b.Append($"R12={r.R12:x16} R13={r.R13:x16} R14={r.R14:x16} R15={r.R15:x16}\n");
            b.Append($"CS={s.Cs.Selector:x4} base={s.Cs.Base:x} L={(s.Cs.Long ? 1 : 0)} D={(s.Cs.DefaultBig ? 1 : 0)}  SS={s.Ss.Selector:x4}  TR={s.Tr.Selector:x4}\n");
            b.Append($"CR0={s.Cr0:x8} CR2={s.Cr2:x16} CR3={s.Cr3:x16} CR4={s.Cr4:x8} EFER={s.Efer:x}\n");
            b.Append($"GDT={s.Gdt.Base:x16}/{s.Gdt.Limit:x4} IDT={s.Idt.Base:x16}/{s.Idt.Limit:x4}");
            return b.ToString();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or IOException)
        {
            return $"(registers unavailable: {ex.Message})";
        }
    }
}
