namespace Vessel.Devices.Platform;

/// <summary>Guest time in nanoseconds, as the platform timers see it. The emu backend's guest clock
/// implements it; tests move a fake one by hand.</summary>
public interface IPlatformClock
{
    long NowNanoseconds();
}
