namespace Vessel.Kvm;

/// <summary>Offsets into the mmap'd struct kvm_run that Vessel reads and writes. kvm_run is a union-heavy
/// struct, so it is addressed by offset rather than declared; the layout test checks each offset.</summary>
internal static class KvmRunOffsets
{
    public const int ImmediateExit = 1;
    public const int ExitReason = 8;
    /// <summary>Start of the exit-specific union.</summary>
    public const int Union = 32;

    // exit io: direction u8, size u8, port u16, count u32, data_offset u64.
    public const int IoDirection = Union + 0, IoSize = Union + 1, IoPort = Union + 2, IoCount = Union + 4, IoDataOffset = Union + 8;

    // exit mmio: phys_addr u64, data[8], len u32, is_write u8.
    public const int MmioPhysAddr = Union + 0, MmioData = Union + 8, MmioLen = Union + 16, MmioIsWrite = Union + 20;

    // exit fail_entry: hardware_entry_failure_reason u64, cpu u32.
    public const int FailEntryReason = Union + 0, FailEntryCpu = Union + 8;

    // exit internal: suberror u32, ndata u32, data u64[].
    public const int InternalSuberror = Union + 0, InternalNdata = Union + 4, InternalData = Union + 8;

    // exit system_event: type u32.
    public const int SystemEventType = Union + 0;

    public static IReadOnlyDictionary<string, int> ByName() => new Dictionary<string, int>
    {
        ["kvm_run.immediate_exit"] = ImmediateExit, ["kvm_run.exit_reason"] = ExitReason,
        ["kvm_run.io.direction"] = IoDirection, ["kvm_run.io.size"] = IoSize, ["kvm_run.io.port"] = IoPort,
        ["kvm_run.io.count"] = IoCount, ["kvm_run.io.data_offset"] = IoDataOffset,
        ["kvm_run.mmio.phys_addr"] = MmioPhysAddr, ["kvm_run.mmio.data"] = MmioData, ["kvm_run.mmio.len"] = MmioLen,
        ["kvm_run.mmio.is_write"] = MmioIsWrite,
        ["kvm_run.fail_entry.hardware_entry_failure_reason"] = FailEntryReason, ["kvm_run.fail_entry.cpu"] = FailEntryCpu,
        ["kvm_run.internal.suberror"] = InternalSuberror, ["kvm_run.internal.ndata"] = InternalNdata,
        ["kvm_run.internal.data"] = InternalData, ["kvm_run.system_event.type"] = SystemEventType,
    };
}
