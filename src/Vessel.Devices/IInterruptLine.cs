namespace Vessel.Devices;

/// <summary>The interrupt line a device drives (an ISA IRQ / GSI). Level-triggered devices hold it;
/// edge-triggered ones raise then lower it.</summary>
public interface IInterruptLine
{
    void Set(bool level);
}

/// <summary>A line wired to nothing; for devices used without interrupts and in tests.</summary>
public sealed class NullInterruptLine : IInterruptLine
{
    public static readonly NullInterruptLine Instance = new();
    public void Set(bool level) { }
}
