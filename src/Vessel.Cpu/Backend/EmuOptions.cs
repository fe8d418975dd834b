namespace Vessel.Cpu;

/// <summary>Tuning of the emu backend.</summary>
public sealed record EmuOptions
{
    /// <summary>Whether decoded instructions get pre-digested fast forms. Off, every instruction goes through
    /// the general interpreter: the tests run guests both ways and compare, and a suspected fast-path bug can
    /// be confirmed by switching it off.</summary>
    public bool FastPaths { get; init; } = true;

    /// <summary>Runs after which a 64-bit block is translated by the native tier; 0 never translates (requires
    /// <see cref="FastPaths"/>).</summary>
    public int JitThreshold { get; init; } = 64;

    /// <summary>Which tier compiles hot blocks. <see cref="EmuTier.Automatic"/> is the native tier, which translates 64-bit
    /// blocks; 16- and 32-bit blocks are interpreted under every tier (the IL tier that compiled them was retired on
    /// 2026-12-07: docs/performance.md).</summary>
    public EmuTier Tier { get; init; } = EmuTier.Automatic;

    /// <summary><see cref="Tier"/> with Automatic decided for this runtime.</summary>
    public EmuTier ResolvedTier => Tier != EmuTier.Automatic ? Tier : EmuTier.Native;

    /// <summary>Host memory the VM's decoded and compiled guest code may take, all vCPUs together (see
    /// <see cref="CodeCacheBudget"/>); when full, every vCPU's code cache is flushed.</summary>
    public long CodeCacheBytes
    {
        get => _codeCacheBytes;
        init => _codeCacheBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(CodeCacheBytes), value, "the code-cache budget cannot be negative");
    }

    private readonly long _codeCacheBytes = CodeCacheBudget.DefaultBytes;
}

/// <summary>The emu backend's compiled tiers: none (every instruction interpreted), or host machine code translated by
/// Vessel itself (64-bit code; the rest interpreted). The IL tier (.NET dynamic methods) was retired on 2026-12-07.</summary>
public enum EmuTier { Automatic, Interpreter, Native }
