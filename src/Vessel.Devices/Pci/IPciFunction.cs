namespace Vessel.Devices.Pci;

/// <summary>One function on the PCI bus: its configuration space and the registers behind its memory BARs.
/// BAR accesses see offsets inside the BAR. Calls may come from several vCPUs at once (the bus does not
/// serialise them): a function locks what it shares.</summary>
public interface IPciFunction
{
    PciConfigSpace Config { get; }

    ulong ReadBar(int bar, ulong offset, int size);

    void WriteBar(int bar, ulong offset, int size, ulong value);

    /// <summary>The driver wrote configuration space (already applied); lets a function act on its
    /// capabilities (MSI-X enable and function mask).</summary>
    void ConfigWritten(int offset, int size) { }

    /// <summary>BAR <paramref name="bar"/> now decodes at <paramref name="address"/>, or at nothing (null: memory
    /// decode off, or the BAR moved out of the bus's window).</summary>
    void BarMapped(int bar, ulong? address) { }
}
