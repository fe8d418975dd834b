using System.Runtime.CompilerServices;
using System.Text;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The host CPU and three emulator configurations (the plain interpreter, fast paths with the default
/// translation threshold, and every 64-bit block translated by the native tier on its second run) behind one
/// interface: runs cases on all of them and describes every disagreement.</summary>
internal sealed class DifferentialRunner : IDisposable
{
    public NativeExecutor Native { get; } = new();
    private readonly (string Name, EmulatorExecutor Executor)[] _emulators;
    /// <summary>Cases of each form that also run translated by the native tier (translating per case is costly),
    /// for the mnemonics it translates itself (the rest it hands back to the fast-path interpreter).</summary>
    public const int CompiledCases = 4;

    private static readonly HashSet<Mnemonic> Compilable =
    [
        Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Lea, Mnemonic.Shl,
        Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Push, Mnemonic.Pop,
        Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Bswap, Mnemonic.Movsx, Mnemonic.Movsxd,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe,
        Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge,
        Mnemonic.Setle, Mnemonic.Setg, Mnemonic.Div, Mnemonic.Imul, Mnemonic.Pushfq, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc,
    ];
    public CaseGenerator Generator { get; }
    private static readonly StreamWriter? Trace =
        Environment.GetEnvironmentVariable("VESSEL_DIFF_TRACE") is { Length: > 0 } path ? new StreamWriter(path) : null;

    /// <summary>Seed for the fixed, reproducible part of every form; VESSEL_DIFF_SEED replaces the random part.</summary>
    public const int FixedSeed = 20261125;

    public DifferentialRunner()
    {
        Generator = new CaseGenerator(Native.WindowBase);
        _emulators =
        [
            ("interpreter", new EmulatorExecutor(new EmuOptions { FastPaths = false }, Native.WindowBase, WindowLayout.WindowBytes)),
            ("fast paths", new EmulatorExecutor(new EmuOptions(), Native.WindowBase, WindowLayout.WindowBytes)),
            ("native block", new EmulatorExecutor(new EmuOptions { JitThreshold = 1, Tier = EmuTier.Native }, Native.WindowBase, WindowLayout.WindowBytes, runs: 2)),
        ];
    }

    public EmulatorExecutor Interpreter => _emulators[0].Executor;
    public IEnumerable<EmulatorExecutor> Emulators => _emulators.Take(2).Select(e => e.Executor);

    public static int RandomSeed() =>
        Environment.GetEnvironmentVariable("VESSEL_DIFF_SEED") is { Length: > 0 } s ? int.Parse(s) : Random.Shared.Next();

    /// <summary>Runs one case everywhere; null when all agree, else a description.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string? Check(DiffCase c, bool compiled = true)
    {
        byte[] nativeWindow = (byte[])c.Window.Clone();
        if (Trace != null) { Trace.WriteLine($"{c.Text} {c.Input}"); Trace.Flush(); }
        CpuState native = Native.Run(c.Code, c.Input, nativeWindow);
        foreach (var (name, emulator) in _emulators)
        {
            if (!compiled && emulator == _emulators[2].Executor) continue;
            byte[] emuWindow = (byte[])c.Window.Clone();
            EmulatorOutcome emu = emulator.Run(c.Code, c.Input, emuWindow);
            string? diff = Compare(c, native, nativeWindow, emu, emuWindow);
            if (diff != null) return $"{c.Text} on the {name}: {diff}\n  input:  {c.Input}\n  host:   {native}\n  emu:    {emu.State}";
        }
        return null;
    }

    private string? Compare(DiffCase c, CpuState native, byte[] nativeWindow, EmulatorOutcome emu, byte[] emuWindow)
    {
        if (emu.Error != null) return emu.Error;
        if (emu.ExceptionVector >= 0) return $"exception vector {emu.ExceptionVector} (the host ran it)";
        var sb = new StringBuilder();
        for (int i = 0; i < 16; i++)
            if (i != c.UndefinedRegister && native.Gpr[i] != emu.State.Gpr[i])
                sb.Append($"{CpuState.Names[i]} host {native.Gpr[i]:x} emu {emu.State.Gpr[i]:x}; ");
        ulong mask = CpuState.ComparedFlags & ~c.UndefinedFlags;
        if ((native.Rflags & mask) != (emu.State.Rflags & mask))
            sb.Append($"flags host {native.Rflags & mask:x} emu {emu.State.Rflags & mask:x} (compared {mask:x}); ");
        int at = nativeWindow.AsSpan().CommonPrefixLength(emuWindow);
        if (at < nativeWindow.Length)
            sb.Append($"memory at window+{at:x} (0x{Native.WindowBase + (ulong)at:x}) host {nativeWindow[at]:x2} emu {emuWindow[at]:x2}; ");
        return sb.Length == 0 ? null : sb.ToString();
    }

    /// <summary>Generates and checks <paramref name="cases"/> cases of <paramref name="code"/> from
    /// <paramref name="seed"/>; returns the first few disagreements.</summary>
    /// <summary>Bytes that read the flags the way guest code does, before anything materialises them: three times
    /// Jcc over INC R15, SETcc R14B and CMOVcc R13, R12 with random conditions. Only for instructions that define
    /// every flag a condition reads.</summary>
    public static byte[] FlagConsumers(Random r)
    {
        var bytes = new List<byte>();
        for (int k = 0; k < 3; k++)
        {
            bytes.AddRange([(byte)(0x70 | r.Next(16)), 3, 0x49, 0xFF, 0xC7]);
            bytes.AddRange([0x41, 0x0F, (byte)(0x90 | r.Next(16)), 0xC6]);
            bytes.AddRange([0x4D, 0x0F, (byte)(0x40 | r.Next(16)), 0xEC]);
        }
        return bytes.ToArray();
    }

    public List<string> RunForm(Code code, int cases, int seed, bool locked = false, bool consumers = false)
    {
        var failures = new List<string>();
        var random = new Random(unchecked(seed * 7919 + (int)code * 104729 + (locked ? 1 : 0)));
        for (int i = 0; i < cases && failures.Count < 3; i++)
        {
            DiffCase c = Generator.Generate(code, random, locked);
            if (consumers)
                c = new DiffCase
                {
                    Instruction = c.Instruction, Code = [.. c.Code, .. FlagConsumers(random)], Input = c.Input, Window = c.Window,
                    UndefinedFlags = c.UndefinedFlags, UndefinedRegister = c.UndefinedRegister,
                };
            if (Check(c, compiled: i < CompiledCases && Compilable.Contains(code.Mnemonic())) is { } failure) failures.Add($"case {i}: {failure}");
        }
        return failures;
    }

    public void Dispose()
    {
        foreach (var (_, e) in _emulators) e.Dispose();
        Native.Dispose();
    }
}
