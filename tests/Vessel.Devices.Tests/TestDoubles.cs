using Vessel.Devices;

namespace Vessel.Devices.Tests;

/// <summary>An interrupt line that records every level it is driven to.</summary>
internal sealed class RecordingInterruptLine : IInterruptLine
{
    private readonly List<bool> _levels = [];

    public bool Level { get; private set; }
    public IReadOnlyList<bool> Levels => _levels;

    public void Set(bool level)
    {
        Level = level;
        _levels.Add(level);
    }
}

internal sealed class RecordingSystemControl : ISystemControl
{
    public int ResetRequests { get; private set; }
    public List<int> ExitStatuses { get; } = [];

    public void RequestReset() => ResetRequests++;
    public void RequestExit(int status) => ExitStatuses.Add(status);
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start)
{
    public DateTimeOffset Now { get; set; } = start;
    public void Advance(TimeSpan by) => Now += by;
}
