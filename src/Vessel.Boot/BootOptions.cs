namespace Vessel.Boot;

/// <summary>A module handed to the kernel next to it (multiboot module; the initrd is one).</summary>
public sealed record BootModule(ReadOnlyMemory<byte> Data, string CommandLine = "");

/// <summary>What the VMM passes to a kernel besides its image.</summary>
public sealed record BootOptions
{
    public string CommandLine { get; init; } = "";

    /// <summary>The kernel's file name. Multiboot kernels see it as the first word of their command line, as
    /// GRUB and QEMU pass it (kvm-unit-tests takes it as argv[0]); null leaves the command line as it is.</summary>
    public string? ImageName { get; init; }

    /// <summary>The initial ramdisk. Multiboot kernels receive it as module 0, before <see cref="Modules"/>.</summary>
    public ReadOnlyMemory<byte>? Initrd { get; init; }

    public IReadOnlyList<BootModule> Modules { get; init; } = [];

    /// <summary>The initrd (as a module named "initrd") followed by <see cref="Modules"/>.</summary>
    public IReadOnlyList<BootModule> AllModules =>
        Initrd is { } initrd ? [new BootModule(initrd, "initrd"), .. Modules] : Modules;
}
