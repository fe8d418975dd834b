namespace Vessel.Cpu;

/// <summary>Which blocks run compiled. One compiled tier remains, the native one (<see cref="Native.NativeTranslator"/>),
/// and it takes 64-bit code only: 16- and 32-bit blocks (firmware, boot stubs, 32-bit guests) are interpreted, fast
/// forms and all. The IL tier that compiled them was retired on 2026-12-07 (docs/performance.md).</summary>
internal sealed partial class RunLoop
{
    /// <summary>How often each block ran in this heat epoch, for the translation threshold.</summary>
    private BlockHeat _heat;

    /// <summary>Runs the block translated, translating it once hot; false leaves it to the interpreter (not 64-bit,
    /// not hot yet, not cacheable, or not translatable).</summary>
    private bool TryRunCompiled(DecodedBlock block) => _nativeThreshold > 0 && block.Bitness == 64 && TryRunNative(block);
}
