using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>The `strings` workload: per round, REP STOSQ over 4 MiB and REP MOVSB of those 4 MiB to another
/// buffer (a page clear and a memcpy, as the Linux kernel does them), then a check of the copy; result in EAX.</summary>
internal static class StringsGuest
{
    private const uint Source = 0x400000, Destination = 0x800000, Bytes = 4 << 20;

    /// <summary>Emits the rounds; EAX ends as the sum of the first and the last dword copied in the last round.</summary>
    public static void EmitWorkload(Assembler a, int rounds)
    {
        var round = a.CreateLabel();
        a.cld();
        a.mov(ebp, (uint)rounds);
        a.Label(ref round);
        a.mov(rax, 0x0001_0001_0001_0001UL);
        a.imul(rax, rbp); // each round stores another value
        a.mov(edi, Source);
        a.mov(ecx, Bytes / 8);
        a.rep.stosq();
        a.mov(esi, Source);
        a.mov(edi, Destination);
        a.mov(ecx, Bytes);
        a.rep.movsb();
        a.dec(ebp);
        a.jnz(round);
        a.mov(eax, __dword_ptr[Destination]);
        a.add(eax, __dword_ptr[Destination + Bytes - 4]);
    }

    /// <summary>The last round stores 0x0001_0001 in every dword.</summary>
    public static string Expected => 0x0002_0002.ToString("x8");

    public static int Compare(int rounds, int repeats, IReadOnlyList<Vessel.Cpu.EmuTier> tiers) =>
        QemuComparison.Run(MultibootCrcImage.Build(a => EmitWorkload(a, rounds)), Expected,
            $"strings image (rep stosq + rep movsb over 4 MiB), {rounds} rounds", repeats, tiers);
}
