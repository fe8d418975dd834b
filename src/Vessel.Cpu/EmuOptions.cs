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
}
