namespace Vessel.Boot;

internal static class BootOptionChecks
{
    /// <summary>Refuses a command line or modules for a format that has no way to hand them to the kernel:
    /// dropping them silently would boot something other than what was asked for.</summary>
    public static void RequireNone(BootOptions options, string format)
    {
        if (options.CommandLine.Length > 0)
            throw new BootImageException($"a {format} kernel cannot receive a command line");
        if (options.AllModules.Count > 0)
            throw new BootImageException($"a {format} kernel cannot receive an initrd or modules");
    }
}
