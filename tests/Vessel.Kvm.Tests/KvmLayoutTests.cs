using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vessel.Kvm.Tests;

/// <summary>Checks every kvm struct, field offset, ioctl number and constant Vessel uses against
/// &lt;linux/kvm.h&gt;, by compiling a C program at test time.</summary>
public sealed class KvmLayoutTests
{
    private static readonly List<(string Label, string C, ulong CSharp)> Checks = BuildChecks();

    private static List<(string, string, ulong)> BuildChecks()
    {
        var list = new List<(string, string, ulong)>();
        void Struct<T>(string cName, params (string C, string CSharp)[] fields) where T : unmanaged
        {
            list.Add(($"sizeof({cName})", $"sizeof(struct {cName})", (ulong)Unsafe.SizeOf<T>()));
            list.Add(($"marshal sizeof({cName})", $"sizeof(struct {cName})", (ulong)Marshal.SizeOf<T>()));
            foreach (var (c, cs) in fields)
                list.Add(($"offsetof({cName}, {c})", $"offsetof(struct {cName}, {c})", (ulong)Marshal.OffsetOf<T>(cs)));
        }

        Struct<KvmRegs>("kvm_regs", ("rax", "Rax"), ("rbx", "Rbx"), ("rcx", "Rcx"), ("rdx", "Rdx"), ("rsi", "Rsi"),
            ("rdi", "Rdi"), ("rsp", "Rsp"), ("rbp", "Rbp"), ("r8", "R8"), ("r15", "R15"), ("rip", "Rip"), ("rflags", "Rflags"));
        Struct<KvmSegment>("kvm_segment", ("base", "Base"), ("limit", "Limit"), ("selector", "Selector"), ("type", "Type"),
            ("present", "Present"), ("dpl", "Dpl"), ("db", "Db"), ("s", "S"), ("l", "L"), ("g", "G"), ("avl", "Avl"),
            ("unusable", "Unusable"), ("padding", "Padding"));
        Struct<KvmDtable>("kvm_dtable", ("base", "Base"), ("limit", "Limit"), ("padding", "Padding0"));
        Struct<KvmSregs>("kvm_sregs", ("cs", "Cs"), ("ds", "Ds"), ("es", "Es"), ("fs", "Fs"), ("gs", "Gs"), ("ss", "Ss"),
            ("tr", "Tr"), ("ldt", "Ldt"), ("gdt", "Gdt"), ("idt", "Idt"), ("cr0", "Cr0"), ("cr2", "Cr2"), ("cr3", "Cr3"),
            ("cr4", "Cr4"), ("cr8", "Cr8"), ("efer", "Efer"), ("apic_base", "ApicBase"), ("interrupt_bitmap", "InterruptBitmap"));
        Struct<KvmFpu>("kvm_fpu", ("fpr", "Fpr"), ("fcw", "Fcw"), ("fsw", "Fsw"), ("ftwx", "Ftwx"), ("last_opcode", "LastOpcode"),
            ("last_ip", "LastIp"), ("last_dp", "LastDp"), ("xmm", "Xmm"), ("mxcsr", "Mxcsr"));
        Struct<KvmLapicState>("kvm_lapic_state", ("regs", "Regs"));
        Struct<KvmMsrsHeader>("kvm_msrs", ("nmsrs", "Nmsrs"));
        list.Add(("offsetof(kvm_msrs, entries)", "offsetof(struct kvm_msrs, entries)", (ulong)Marshal.OffsetOf<KvmOneMsr>("Entry")));
        Struct<KvmMsrEntry>("kvm_msr_entry", ("index", "Index"), ("data", "Data"));
        Struct<KvmUserspaceMemoryRegion>("kvm_userspace_memory_region", ("slot", "Slot"), ("flags", "Flags"),
            ("guest_phys_addr", "GuestPhysAddr"), ("memory_size", "MemorySize"), ("userspace_addr", "UserspaceAddr"));
        Struct<KvmPitConfig>("kvm_pit_config", ("flags", "Flags"));
        Struct<KvmIrqLevel>("kvm_irq_level", ("irq", "Irq"), ("level", "Level"));
        Struct<KvmMsi>("kvm_msi", ("address_lo", "AddressLo"), ("address_hi", "AddressHi"), ("data", "Data"),
            ("flags", "Flags"), ("devid", "Devid"));
        Struct<KvmIoeventfd>("kvm_ioeventfd", ("datamatch", "Datamatch"), ("addr", "Addr"), ("len", "Len"), ("fd", "Fd"),
            ("flags", "Flags"), ("pad", "Pad"));
        Struct<KvmIrqfd>("kvm_irqfd", ("fd", "Fd"), ("gsi", "Gsi"), ("flags", "Flags"), ("resamplefd", "Resamplefd"), ("pad", "Pad"));
        Struct<KvmIrqRoutingHeader>("kvm_irq_routing", ("nr", "Nr"), ("flags", "Flags"));
        list.Add(("offsetof(kvm_irq_routing, entries)", "offsetof(struct kvm_irq_routing, entries)", (ulong)Unsafe.SizeOf<KvmIrqRoutingHeader>()));
        Struct<KvmIrqRoutingEntry>("kvm_irq_routing_entry", ("gsi", "Gsi"), ("type", "Type"), ("flags", "Flags"), ("pad", "Pad"),
            ("u.irqchip.irqchip", "Irqchip"), ("u.irqchip.pin", "IrqchipPin"), ("u.msi.address_lo", "MsiAddressLo"),
            ("u.msi.address_hi", "MsiAddressHi"), ("u.msi.data", "MsiData"), ("u.msi.devid", "MsiDevid"));
        Struct<KvmCpuid2Header>("kvm_cpuid2", ("nent", "Nent"));
        Struct<KvmCpuidEntry2>("kvm_cpuid_entry2", ("function", "Function"), ("index", "Index"), ("flags", "Flags"),
            ("eax", "Eax"), ("ebx", "Ebx"), ("ecx", "Ecx"), ("edx", "Edx"));

        foreach (var (path, offset) in KvmRunOffsets.ByName())
        {
            string field = path["kvm_run.".Length..];
            list.Add(($"offsetof({path})", $"offsetof(struct kvm_run, {field})", (ulong)offset));
        }
        foreach (var (name, value) in KvmIoctls.ByName()) list.Add((name, name, value));
        foreach (var (name, value) in KvmCap.ByName()) list.Add((name, name, (ulong)value));
        foreach (var (name, value) in KvmExit.ByName()) list.Add((name, name, (ulong)value));

        list.Add(("sizeof(struct sigaction)", "sizeof(struct sigaction)", (ulong)Unsafe.SizeOf<SigActionStruct>()));
        list.Add(("offsetof(sigaction, sa_mask)", "offsetof(struct sigaction, sa_mask)", (ulong)Marshal.OffsetOf<SigActionStruct>("Mask")));
        list.Add(("offsetof(sigaction, sa_flags)", "offsetof(struct sigaction, sa_flags)", (ulong)Marshal.OffsetOf<SigActionStruct>("Flags")));
        list.Add(("offsetof(sigaction, sa_restorer)", "offsetof(struct sigaction, sa_restorer)", (ulong)Marshal.OffsetOf<SigActionStruct>("Restorer")));
        list.Add(("kick signal is a real-time signal", $"SIGRTMIN <= {VcpuKickSignal.Number} && {VcpuKickSignal.Number} <= SIGRTMAX", 1));
        list.Add(("kick signal is not SIGRTMIN (used by the .NET runtime)", $"SIGRTMIN != {VcpuKickSignal.Number}", 1));
        list.Add(("O_RDWR", "O_RDWR", KvmNative.ORdWr));
        list.Add(("O_CLOEXEC", "O_CLOEXEC", KvmNative.OCloExec));
        list.Add(("MAP_SHARED", "MAP_SHARED", KvmNative.MapShared));
        list.Add(("E2BIG", "E2BIG", KvmNative.E2Big));
        list.Add(("EINTR", "EINTR", KvmNative.EIntr));
        list.Add(("EBUSY", "EBUSY", KvmNative.EBusy));
        list.Add(("EACCES", "EACCES", KvmNative.EAcces));
        list.Add(("ENOENT", "ENOENT", KvmNative.ENoEnt));
        list.Add(("EPERM", "EPERM", KvmNative.EPerm));
        list.Add(("ENODEV", "ENODEV", KvmNative.ENoDev));
        list.Add(("ENXIO", "ENXIO", KvmNative.ENxio));
        list.Add(("EFD_CLOEXEC", "EFD_CLOEXEC", (ulong)Vessel.Hypervisor.EventFdNative.EfdCloExec));
        list.Add(("EFD_NONBLOCK", "EFD_NONBLOCK", (ulong)Vessel.Hypervisor.EventFdNative.EfdNonBlock));
        list.Add(("POLLIN", "POLLIN", (ulong)Vessel.Hypervisor.EventFdNative.PollIn));
        list.Add(("EAGAIN", "EAGAIN", (ulong)Vessel.Hypervisor.EventFdNative.EAgain));
        list.Add(("sizeof(struct pollfd)", "sizeof(struct pollfd)", (ulong)Unsafe.SizeOf<Vessel.Hypervisor.EventFdNative.PollFd>()));
        list.Add(("offsetof(pollfd, revents)", "offsetof(struct pollfd, revents)", (ulong)Marshal.OffsetOf<Vessel.Hypervisor.EventFdNative.PollFd>("Revents")));
        return list;
    }

    [Fact]
    public void EveryStructOffsetIoctlAndConstantMatchesTheKernelHeaders()
    {
        var c = CProbe.Evaluate(Checks.Select(x => (x.Label, x.C)),
            "linux/kvm.h", "signal.h", "fcntl.h", "sys/mman.h", "errno.h", "sys/eventfd.h", "poll.h");
        var mismatches = Checks.Where(x => c[x.Label] != x.CSharp)
            .Select(x => $"{x.Label}: C says {c[x.Label]} (0x{c[x.Label]:x}), C# says {x.CSharp} (0x{x.CSharp:x})").ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(Checks.Count > 100, $"only {Checks.Count} checks");
    }
}
