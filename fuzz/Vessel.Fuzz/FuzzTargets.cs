namespace Vessel.Fuzz;

/// <summary>Every fuzz target, by name. To add one, write a <see cref="FuzzTarget"/> (a call that lets only the
/// parser's own clean error through, and a few valid seeds) and list it here: the command line, the seeded
/// mutational tests and the README's loop all pick it up.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        KernelImageTargets.BzImage,
        KernelImageTargets.Pvh,
        KernelImageTargets.Elf,
        KernelImageTargets.Multiboot,
        KernelImageTargets.BootSector,
        CommandLineTarget.Target,
        VirtqueueTarget.Target,
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
