namespace Vessel.Hypervisor;

public enum IoEventSpace
{
    Port,
    Mmio,
}

/// <summary>A guest doorbell: a write of <see cref="Size"/> bytes to <see cref="Address"/> in <see cref="Space"/>,
/// of <see cref="Value"/> when it is set (any value otherwise), as KVM_IOEVENTFD matches them.</summary>
public readonly record struct IoEvent(IoEventSpace Space, ulong Address, int Size, ulong? Value = null)
{
    public static IoEvent Port(ushort port, int size, ulong? value = null) => new(IoEventSpace.Port, port, size, value);
    public static IoEvent Mmio(ulong address, int size, ulong? value = null) => new(IoEventSpace.Mmio, address, size, value);

    /// <summary>Whether the guest write <paramref name="exit"/> rings this doorbell.</summary>
    public bool Matches(in VcpuExit exit) =>
        exit.Reason == (Space == IoEventSpace.Port ? VcpuExitReason.IoOut : VcpuExitReason.MmioWrite)
        && exit.Address == Address && exit.Size == Size && (Value is not { } v || exit.Data == v);

    /// <summary>Throws for a doorbell no backend can match: sizes are 1, 2, 4 (and 8 for MMIO), ports 16-bit,
    /// and a value must fit the size.</summary>
    public void Validate()
    {
        bool sizeOk = Space == IoEventSpace.Port ? Size is 1 or 2 or 4 : Size is 1 or 2 or 4 or 8;
        if (!sizeOk) throw new ArgumentException($"{this}: a {Space} doorbell is 1, 2 or 4{(Space == IoEventSpace.Mmio ? " or 8" : "")} bytes");
        if (Space == IoEventSpace.Port && Address > 0xFFFF) throw new ArgumentException($"{this}: port beyond 0xffff");
        if (Value is { } v && Size < 8 && v >> (Size * 8) != 0) throw new ArgumentException($"{this}: value wider than {Size} bytes");
    }

    public override string ToString() =>
        $"{(Space == IoEventSpace.Port ? "port" : "mmio")} 0x{Address:x} size {Size}{(Value is { } v ? $" value 0x{v:x}" : "")}";
}
