namespace Vessel.Devices.Bus;

/// <summary>Addresses [<see cref="Base"/>, <see cref="Last"/>] (inclusive, so a range may end at the top of the
/// address space). The buses' registrations and the PCI window's BAR mappings derive from it to share one overlap
/// rule and one search; fields, not virtual members, so the search costs no call per probe.</summary>
internal abstract class AddressRange(ulong baseAddress, ulong last)
{
    public readonly ulong Base = baseAddress;
    public readonly ulong Last = last;

    public bool Overlaps(AddressRange other) => Base <= other.Last && other.Base <= Last;

    public static int ByBase(AddressRange a, AddressRange b) => a.Base.CompareTo(b.Base);

    /// <summary>The range holding <paramref name="address"/> in <paramref name="sorted"/> (disjoint, in
    /// <see cref="ByBase"/> order), by binary search; null if none.</summary>
    public static T? Find<T>(T[] sorted, ulong address) where T : AddressRange
    {
        int lo = 0, hi = sorted.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var range = sorted[mid];
            if (address < range.Base) hi = mid - 1;
            else if (address > range.Last) lo = mid + 1;
            else return range;
        }
        return null;
    }
}
