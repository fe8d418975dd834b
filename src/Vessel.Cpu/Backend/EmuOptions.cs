namespace Vessel.Cpu;

/// <summary>Tuning of the emu backend.</summary>
public sealed record EmuOptions
{
    /// <summary>Whether decoded instructions get pre-digested fast forms. Off, every instruction goes through
    /// the general interpreter: the tests run guests both ways and compare, and a suspected fast-path bug can
    /// be confirmed by switching it off.</summary>
    public bool FastPaths { get; init; } = true;

    /// <summary>Runs after which a block is compiled to IL; 0 never compiles (requires <see cref="FastPaths"/>).</summary>
    public int JitThreshold { get; init; } = 64;

    /// <summary>Host memory the VM's decoded and compiled guest code may take, all vCPUs together (see
    /// <see cref="CodeCacheBudget"/>); when full, every vCPU's code cache is flushed.</summary>
    public long CodeCacheBytes
    {
        get => _codeCacheBytes;
        init => _codeCacheBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(CodeCacheBytes), value, "the code-cache budget cannot be negative");
    }

    private readonly long _codeCacheBytes = CodeCacheBudget.DefaultBytes;
}
