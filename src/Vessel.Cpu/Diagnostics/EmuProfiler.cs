using System.Diagnostics;
using System.Text;

namespace Vessel.Cpu;

/// <summary>What a vCPU is doing, as the profiler's sampler sees it.</summary>
internal enum ProfileMode : byte
{
    Vmm,         // outside X86Cpu.Run: the VMM handles an exit
    Loop,        // the run loop itself: lookups, links, interrupt checks
    Fast,        // an interpreted instruction with a fast form
    Interpret,   // an interpreted instruction through the general interpreter
    Compiled,    // inside a translated block
    CompiledStep,// an instruction a translated block hands back to the interpreter
    Walk,        // a page walk (TLB miss)
    Decode,      // decoding a block
    Compile,     // translating a block to host code
    Deliver,     // delivering an exception or interrupt
    Poll,        // polling the platform timers
    Halt,        // waiting for an interrupt
    Count,
}

/// <summary>Per-vCPU event counts, filled only while profiling is on.</summary>
internal struct CpuCounters
{
    public long BlocksRun, BlocksCompiledRun, ChainFollowed, LinkHits, CacheLookups, CacheHits, Decodes, UncacheableDecodes;
    public long DecodesOfInvalidatedPage, CodeWriteInvalidations, CodeEpochFlushes, Translations, TranslationsKept;
    public long InstructionsFast, InstructionsGeneric, InstructionsCompiledStep;
    public long TlbMissRead, TlbMissWrite, TlbMissExec;
    public long TlbFlushes, TlbFlushesCr3, TlbPageFlushes;
    public long Faults, PageFaults, Interrupts, Polls, Halts, Exits;
    /// <summary>Writes that rang a registered doorbell (an I/O event: signalled without leaving Run, not an exit).</summary>
    public long Doorbells;
    /// <summary>Why translated code came back to the run loop: a chain slot not linked yet; a jump-cache miss after
    /// a RET, an indirect JMP/CALL, or a direct branch into another page; the loop budget spent; the block's last
    /// instruction handed back; an instruction handed back that ended the run (interrupt shadow, mode change...).</summary>
    public long NativeExitUnlinked, NativeExitMissRet, NativeExitMissIndirect, NativeExitMissOtherPage, NativeExitBudget;
    public long NativeExitLastStep, NativeExitEnded;
    /// <summary>A jump-cache miss's slot: empty, another RIP's, or this RIP's with a stale generation; and chain
    /// slots the run loop could not link to the block it ran next.</summary>
    public long JumpMissEmpty, JumpMissOther, JumpMissStale, ChainLinkRefused, ChainRefusedTarget, ChainRefusedGeneration, ChainRefusedFromGone;
    public long ChainRefusedAlreadyLinked, ChainRefusedPhysicalPage;
}

/// <summary>An opt-in profiler for the emu backend (VESSEL_EMU_PROFILE=1): event counters per vCPU and a
/// sampling thread that records, every millisecond, each vCPU's <see cref="ProfileMode"/> and the guest
/// RIP it is at. The report goes to stderr when the VM is disposed or the process exits. Off, every hook is
/// behind a static readonly flag the JIT folds away.</summary>
internal static class EmuProfiler
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_EMU_PROFILE") is { Length: > 0 } v && v != "0";

    private static readonly List<X86Cpu> Cpus = new();
    private static readonly Dictionary<(int cpu, ProfileMode mode), long> ModeSamples = new();
    private static readonly Dictionary<ulong, long> RipSamples = new();
    private static readonly Dictionary<(ulong rip, ProfileMode mode), long> RipModeSamples = new();
    private static long _samples;
    private static Thread? _sampler;
    private static int _reported;
    private static readonly Stopwatch Clock = new();

    public static void Register(X86Cpu cpu)
    {
        if (!Enabled) return;
        lock (Cpus)
        {
            Cpus.Add(cpu);
            if (_sampler != null) return;
            Clock.Start();
            _sampler = new Thread(Sample) { IsBackground = true, Name = "emu-profiler" };
            _sampler.Start();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Report();
        }
    }

    private static void Sample()
    {
        while (Volatile.Read(ref _reported) == 0)
        {
            Thread.Sleep(1);
            lock (Cpus)
            {
                _samples++;
                foreach (var cpu in Cpus)
                {
                    var mode = (ProfileMode)Volatile.Read(ref cpu.ProfMode);
                    ulong rip = cpu.ProfileRip;
                    Add(ModeSamples, (cpu.VcpuId, mode));
                    if (mode is ProfileMode.Vmm or ProfileMode.Halt) continue;
                    Add(RipSamples, rip);
                    Add(RipModeSamples, (rip, mode));
                }
            }
        }
    }

    private static void Add<T>(Dictionary<T, long> d, T key) where T : notnull =>
        d[key] = d.TryGetValue(key, out long n) ? n + 1 : 1;

    private static void AppendByCode(StringBuilder sb, string title, long[] counts)
    {
        long total = counts.Sum();
        sb.AppendLine($"  {title} ({total:N0}):");
        foreach (var (code, n) in counts.Select((n, i) => (i, n)).Where(t => t.n > 0).OrderByDescending(t => t.n).Take(30))
            sb.AppendLine($"    {(Iced.Intel.Code)code,-28} {n,16:N0} {100.0 * n / Math.Max(1, total),5:F1}%");
    }

    public static void Report()
    {
        if (!Enabled || Interlocked.Exchange(ref _reported, 1) != 0) return;
        var sb = new StringBuilder();
        lock (Cpus)
        {
            sb.AppendLine($"== emu profile: {Clock.Elapsed.TotalSeconds:F1} s, {_samples} samples per vCPU ==");
            foreach (var cpu in Cpus)
            {
                long total = 0;
                for (var m = ProfileMode.Vmm; m < ProfileMode.Count; m++) total += ModeSamples.GetValueOrDefault((cpu.VcpuId, m));
                sb.AppendLine($"vCPU {cpu.VcpuId}: {cpu.InstructionsRetired:N0} instructions retired");
                for (var m = ProfileMode.Vmm; m < ProfileMode.Count; m++)
                {
                    long n = ModeSamples.GetValueOrDefault((cpu.VcpuId, m));
                    if (n > 0) sb.AppendLine($"  {m,-13} {n,8} {100.0 * n / Math.Max(1, total),6:F1}%");
                }
                ref CpuCounters c = ref cpu.Counters;
                foreach (var f in typeof(CpuCounters).GetFields())
                    sb.AppendLine($"  {f.Name,-26} {(long)f.GetValue(c)!,16:N0}");
                BlockCompactor compactor = cpu.Loop.Compactor;
                sb.AppendLine($"  {"BlocksMadeCompact",-26} {compactor.MadeCompact,16:N0}");
                sb.AppendLine($"  {"CompactBlockDecodes",-26} {compactor.Decodes,16:N0}");
                sb.AppendLine($"  {"CompactBlocksGivenArrays",-26} {compactor.GivenArrays,16:N0}");
                AppendByCode(sb, "instructions compiled blocks handed to the interpreter, by form", cpu.StepsByCode);
                AppendByCode(sb, "instructions interpreted without a fast form, by form", cpu.GenericByCode);
            }
            long ripTotal = RipSamples.Values.Sum();
            sb.AppendLine($"top guest RIPs ({ripTotal} samples while running guest code):");
            foreach (var (rip, n) in RipSamples.OrderByDescending(kv => kv.Value).Take(40))
            {
                var modes = RipModeSamples.Where(kv => kv.Key.rip == rip).OrderByDescending(kv => kv.Value)
                    .Select(kv => $"{kv.Key.mode}:{kv.Value}");
                sb.AppendLine($"  0x{rip:x16} {n,7} {100.0 * n / Math.Max(1, ripTotal),5:F1}%  {string.Join(' ', modes)}");
            }
            // The hottest blocks, disassembled, with samples per instruction.
            var shown = new HashSet<DecodedBlock>();
            var formatter = new Iced.Intel.NasmFormatter();
            var output = new Iced.Intel.StringOutput();
            foreach (var (rip, _) in RipSamples.OrderByDescending(kv => kv.Value).Take(12))
            {
                DecodedBlock? block = null;
                foreach (var cpu in Cpus) block ??= cpu.Loop.FindCachedBlock(rip);
                if (block == null || !shown.Add(block)) continue;
                long blockSamples = 0;
                for (int i = 0; i < block.Count; i++) blockSamples += RipSamples.GetValueOrDefault(block.Instructions[i].IP);
                sb.AppendLine($"block 0x{block.StartRip:x} ({block.Count} instructions, {(block.Native != null ? "translated" : "interpreted")}, {blockSamples} samples):");
                for (int i = 0; i < block.Count; i++)
                {
                    ref var ins = ref block.Instructions[i];
                    formatter.Format(ins, output);
                    sb.AppendLine($"  {RipSamples.GetValueOrDefault(ins.IP),6} {ins.IP:x}  {output.ToStringAndReset(),-40} {block.FastOps[i].Kind}");
                }
            }
            // Samples by 4 KiB page and by 1 MiB region show where whole routines sit.
            sb.AppendLine("by 1 MiB region of RIP:");
            foreach (var g in RipSamples.GroupBy(kv => kv.Key >> 20).Select(g => (g.Key, n: g.Sum(kv => kv.Value)))
                         .OrderByDescending(t => t.n).Take(12))
                sb.AppendLine($"  0x{g.Key << 20:x16} {g.n,7} {100.0 * g.n / Math.Max(1, ripTotal),5:F1}%");
        }
        Console.Error.Write(sb.ToString());
        Console.Error.Flush();
    }
}
