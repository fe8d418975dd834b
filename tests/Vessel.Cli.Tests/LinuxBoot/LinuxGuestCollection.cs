namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>The Debian-guest tests run one after another, never side by side: they share the default guest (built
/// once, by the first of them; two builds at once raced in one directory), and a guest booting beside another on
/// the 2-core machines skews what they measure (idle host CPU, `sleep` against wall time).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LinuxGuestCollection
{
    public const string Name = "Linux guests";
}
