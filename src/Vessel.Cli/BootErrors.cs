using Vessel.Boot;

namespace Vessel.Cli;

/// <summary>Which exceptions from building a machine mean "this kernel or initrd cannot be booted".</summary>
internal static class BootErrors
{
    public static bool IsBootImageError(Exception ex) => ex is BootImageException;
}
