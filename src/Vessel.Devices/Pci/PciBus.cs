using Vessel.Devices.Bus;

namespace Vessel.Devices.Pci;

/// <summary>PCI bus 0: up to 32 single-function devices, reached through configuration mechanism #1
/// (<see cref="ConfigPorts"/> at 0xcf8-0xcff) and, for their memory BARs, through one MMIO window
/// (<see cref="Window"/>) that routes each access to whichever BAR decodes it now. There is no BIOS, so
/// <see cref="Attach"/> plays firmware: it places every BAR in the window (naturally aligned, bottom up) and
/// turns memory decode on. Linux keeps those addresses; if a driver moves a BAR or toggles decode, the window
/// follows at once.</summary>
public sealed class PciBus
{
    public const int ConfigPortLength = 8;
    public const int SlotCount = 32;

    private readonly IPciFunction?[] _slots = new IPciFunction?[SlotCount];
    private readonly Lock _mapLock = new();
    private volatile Mapping[] _mappings = [];
    private ulong _nextFree;

    /// <summary>A BAR as it decodes now, at a window offset.</summary>
    private sealed class Mapping(ulong start, ulong size, IPciFunction function, int bar) : AddressRange(start, start + (size - 1))
    {
        public readonly IPciFunction Function = function;
        public readonly int Bar = bar;
    }

    public PciBus(ulong windowBase, ulong windowSize)
    {
        if (windowSize == 0 || windowBase + windowSize - 1 < windowBase)
            throw new ArgumentOutOfRangeException(nameof(windowSize), "the PCI MMIO window is empty or wraps");
        WindowBase = windowBase;
        WindowSize = windowSize;
        _nextFree = windowBase;
        ConfigPorts = new ConfigMechanism1(this);
        Window = new MmioWindow(this);
    }

    public ulong WindowBase { get; }
    public ulong WindowSize { get; }

    /// <summary>The 0xcf8 address and 0xcfc data registers, as one device over 8 ports.</summary>
    public IPortDevice ConfigPorts { get; }

    /// <summary>The BARs' window, as one device over [WindowBase, WindowBase + WindowSize).</summary>
    public IMmioDevice Window { get; }

    public IPciFunction? FunctionAt(int slot) => (uint)slot < SlotCount ? _slots[slot] : null;

    /// <summary>The lowest free slot, or -1 when the bus is full.</summary>
    public int NextFreeSlot => Array.IndexOf(_slots, null);

    /// <summary>Puts <paramref name="function"/> in <paramref name="slot"/>, places its BARs in the window and
    /// enables memory decode, as firmware would before the OS starts.</summary>
    public void Attach(int slot, IPciFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        if ((uint)slot >= SlotCount) throw new ArgumentOutOfRangeException(nameof(slot), $"PCI slot {slot} is not 0-31");
        if (_slots[slot] is not null) throw new InvalidOperationException($"PCI slot {slot} is taken");
        var config = function.Config;
        ulong next = _nextFree;
        var placed = new List<(int Index, ulong Address)>();
        for (int i = 0; i < PciConfigSpace.BarCount; i++)
        {
            if (config.Bar(i) is not { } bar || bar.Index != i) continue;
            ulong address = (next + bar.Size - 1) & ~(bar.Size - 1);
            if (address < next || address + bar.Size - 1 > WindowBase + WindowSize - 1)
                throw new InvalidOperationException($"PCI window 0x{WindowBase:x}+0x{WindowSize:x} has no room for BAR {i} (0x{bar.Size:x} bytes) of slot {slot}");
            placed.Add((i, address));
            next = address + bar.Size;
        }
        foreach (var (index, address) in placed) config.AssignBar(index, address);
        if (placed.Count > 0) config.Write(PciConfigSpace.Command, 2, (uint)(config.Read16(PciConfigSpace.Command) | PciConfigSpace.CommandMemorySpace));
        _nextFree = next;
        _slots[slot] = function;
        Remap();
    }

    private uint ReadConfig(int slot, int offset, int size)
    {
        if (FunctionAt(slot) is not { } function) return AllOnes(size);
        return function.Config.Read(offset, size);
    }

    private void WriteConfig(int slot, int offset, int size, uint value)
    {
        if (FunctionAt(slot) is not { } function) return;
        function.Config.Write(offset, size, value);
        bool touchesDecode = Overlaps(offset, size, PciConfigSpace.Command, 2) ||
            Overlaps(offset, size, PciConfigSpace.Bar0, PciConfigSpace.BarCount * 4);
        if (touchesDecode) Remap();
        function.ConfigWritten(offset, size);
    }

    private static bool Overlaps(int offset, int size, int start, int length) => offset < start + length && start < offset + size;

    /// <summary>Rebuilds the window's map from every function's BARs and decode bit, and tells each function
    /// whose BAR appeared, moved or vanished.</summary>
    private void Remap()
    {
        lock (_mapLock)
        {
            var old = _mappings;
            var now = new List<Mapping>();
            foreach (var function in _slots)
            {
                if (function is null || !function.Config.MemoryDecode) continue;
                for (int i = 0; i < PciConfigSpace.BarCount; i++)
                {
                    if (function.Config.Bar(i) is not { } bar || bar.Index != i) continue;
                    ulong address = function.Config.BarAddress(i);
                    if (address < WindowBase || address + bar.Size - 1 > WindowBase + WindowSize - 1 || address + bar.Size - 1 < address)
                        continue;
                    var mapping = new Mapping(address - WindowBase, bar.Size, function, i);
                    // Two BARs that overlap (a driver mid-way through moving one): the first claimed keeps it.
                    if (now.Exists(mapping.Overlaps)) continue;
                    now.Add(mapping);
                }
            }
            now.Sort(AddressRange.ByBase);
            _mappings = [.. now];
            foreach (var function in _slots)
            {
                if (function is null) continue;
                for (int i = 0; i < PciConfigSpace.BarCount; i++)
                {
                    if (function.Config.Bar(i) is not { } bar || bar.Index != i) continue;
                    ulong? before = Find(old, function, i), after = Find(_mappings, function, i);
                    if (before != after) function.BarMapped(i, after);
                }
            }
        }
    }

    private ulong? Find(Mapping[] mappings, IPciFunction function, int bar)
    {
        foreach (var m in mappings)
            if (ReferenceEquals(m.Function, function) && m.Bar == bar) return WindowBase + m.Base;
        return null;
    }

    private static uint AllOnes(int size) => size >= 4 ? uint.MaxValue : (1u << (8 * size)) - 1;

    /// <summary>Configuration mechanism #1: a dword write to 0xcf8 selects enable/bus/device/function/register;
    /// 0xcfc-0xcff then read or write that register's bytes at any width. Only bus 0, function 0 exist.</summary>
    private sealed class ConfigMechanism1(PciBus bus) : IPortDevice
    {
        private const uint Enable = 0x8000_0000;
        private uint _address;

        public uint Read(ushort offset, int size)
        {
            if (offset == 0 && size == 4) return _address;
            if (offset < 4) return AllOnes(size);
            return Target(offset, size) is var (slot, register) ? bus.ReadConfig(slot, register, size) : AllOnes(size);
        }

        public void Write(ushort offset, int size, uint value)
        {
            if (offset == 0 && size == 4)
            {
                _address = value & 0x80FF_FFFC;
                return;
            }
            if (offset < 4) return; // byte/word writes to 0xcf8-0xcfb belong to mechanism #2, which this bus lacks
            if (Target(offset, size) is var (slot, register)) bus.WriteConfig(slot, register, size, value);
        }

        /// <summary>The slot and register an access to data port byte <paramref name="offset"/> reaches, or null
        /// for a disabled address, another bus or function, or an access that would leave the dword.</summary>
        private (int Slot, int Register)? Target(ushort offset, int size)
        {
            uint address = _address;
            int within = offset - 4;
            if ((address & Enable) == 0 || within + size > 4) return null;
            int busNumber = (int)(address >> 16) & 0xFF, function = (int)(address >> 8) & 0x7;
            if (busNumber != 0 || function != 0) return null;
            return ((int)(address >> 11) & 0x1F, (int)(address & 0xFC) + within);
        }
    }

    private sealed class MmioWindow(PciBus bus) : IMmioDevice, IConcurrentDevice
    {
        public ulong Read(ulong offset, int size)
        {
            if (AddressRange.Find(bus._mappings, offset) is not { } m || offset + (ulong)size - 1 > m.Last) return ulong.MaxValue;
            return m.Function.ReadBar(m.Bar, offset - m.Base, size);
        }

        public void Write(ulong offset, int size, ulong value)
        {
            if (AddressRange.Find(bus._mappings, offset) is not { } m || offset + (ulong)size - 1 > m.Last) return;
            m.Function.WriteBar(m.Bar, offset - m.Base, size, value);
        }
    }
}
