namespace Vessel.Cli.Options;

public enum BackendChoice
{
    Auto,
    Kvm,
    Emu,
}
