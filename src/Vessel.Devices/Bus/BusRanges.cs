namespace Vessel.Devices.Bus;

/// <summary>The registration policy both buses share: disjoint, non-empty ranges that do not wrap, each with the
/// gate its device gets from <see cref="DeviceLocks"/>. Ranges are only ever added (before or while the vCPUs run),
/// copy-on-write, so readers take no lock; <see cref="InOrder"/> keeps registration order (indices are stable),
/// <see cref="Find"/> searches a sorted copy.</summary>
internal sealed class BusRanges<TDevice>(string space, DeviceLocks deviceLocks) where TDevice : class
{
    public sealed class Entry(ulong baseAddress, ulong length, TDevice device, Lock? gate)
        : AddressRange(baseAddress, baseAddress + (length - 1))
    {
        public readonly TDevice Device = device;
        public readonly Lock? Gate = gate;
    }

    private readonly Lock _registrationLock = new();
    private volatile Entry[] _inOrder = [];
    private volatile Entry[] _sorted = [];

    /// <summary>Every range, in the order it was added.</summary>
    public Entry[] InOrder => _inOrder;

    /// <summary>Adds [<paramref name="baseAddress"/>, baseAddress+length) or throws
    /// <see cref="BusRegistrationException"/>; <paramref name="publish"/> runs under the registration lock with the
    /// new entry's index, so a bus can extend its own lookup tables.</summary>
    public Entry Add(ulong baseAddress, ulong length, TDevice device, Action<int, Entry>? publish = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length == 0 || baseAddress + (length - 1) < baseAddress)
            throw new BusRegistrationException($"{space} range 0x{baseAddress:x}+0x{length:x} is empty or wraps around");
        var entry = new Entry(baseAddress, length, device, deviceLocks.For(device));
        lock (_registrationLock)
        {
            foreach (var other in _inOrder)
                if (entry.Overlaps(other))
                    throw new BusRegistrationException(
                        $"{space} 0x{entry.Base:x}-0x{entry.Last:x} ({device.GetType().Name}) overlaps " +
                        $"0x{other.Base:x}-0x{other.Last:x} ({other.Device.GetType().Name})");
            Entry[] sorted = [.. _sorted, entry];
            Array.Sort(sorted, AddressRange.ByBase);
            int index = _inOrder.Length;
            _sorted = sorted;
            _inOrder = [.. _inOrder, entry];
            publish?.Invoke(index, entry);
        }
        return entry;
    }

    /// <summary>The range holding <paramref name="address"/>, by binary search; null if none.</summary>
    public Entry? Find(ulong address) => AddressRange.Find(_sorted, address);
}
