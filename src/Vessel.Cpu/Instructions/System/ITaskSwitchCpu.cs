namespace Vessel.Cpu;

/// <summary>What <see cref="TaskSwitcher"/> needs of its CPU: the state block (registers, segments, TR, LDTR,
/// CR0, CR3, CPL), RFLAGS with its lazy arithmetic flags, linear memory through the CPU's TLB, and the few
/// effects a switch has on the rest of the CPU.</summary>
internal interface ITaskSwitchCpu
{
    ref CpuState State { get; }
    ulong GetRflags();
    void SetRflags(ulong value);
    ulong ReadLinear(ulong linear, int size, bool user);
    void WriteLinear(ulong linear, int size, ulong value, bool user);
    /// <summary>Reads the current TSS at <paramref name="offset"/>: #TS if that lies beyond TR's limit.</summary>
    ulong ReadTss(uint offset, int size, uint ext);
    /// <summary>CR3 changed: drop the non-global translations.</summary>
    void FlushTlbForCr3Write();
    /// <summary>CS, CR0 or RFLAGS.VM changed: recompute the mode and CPL.</summary>
    void UpdateMode();
    /// <summary>While set, a descriptor read that reaches a device cannot restart the instruction.</summary>
    bool DeliveringEvent { get; set; }
    void ClearInterruptShadow();
    /// <summary>Pushes an exception's error code on the stack the new task loaded.</summary>
    void PushErrorCode(int size, uint errorCode, uint ext);
    /// <summary>The #DB trap the new TSS's T bit asks for (DR6.BT set).</summary>
    void RaiseTaskSwitchTrap();
}
