using System.Runtime.CompilerServices;
using System.Text;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The host CPU and two emulator configurations (the plain interpreter, and fast paths with the default
/// JIT threshold) behind one interface: runs cases on all of them and describes every disagreement.</summary>
internal sealed class DifferentialRunner : IDisposable
{
    public NativeExecutor Native { get; } = new();
    private readonly (string Name, EmulatorExecutor Executor)[] _emulators;
    /// <summary>Cases of each form that also run compiled to IL (compiling per case is costly), for the mnemonics
    /// the block compiler turns into IL itself (the rest it hands back to the fast-path interpreter).</summary>
    public const int CompiledCases = 4;

    private static readonly HashSet<Mnemonic> Compilable =
    [
        Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Lea, Mnemonic.Shl,
        Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Push, Mnemonic.Pop,
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
            ("compiled block", new EmulatorExecutor(new EmuOptions { JitThreshold = 1 }, Native.WindowBase, WindowLayout.WindowBytes, runs: 2)),
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
    public List<string> RunForm(Code code, int cases, int seed, bool locked = false)
    {
        var failures = new List<string>();
        var random = new Random(unchecked(seed * 7919 + (int)code * 104729 + (locked ? 1 : 0)));
        for (int i = 0; i < cases && failures.Count < 3; i++)
        {
            DiffCase c = Generator.Generate(code, random, locked);
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
