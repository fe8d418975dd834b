using System.Reflection;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Segmentation;

/// <summary>A tiny guest in protected or long mode: the test writes the GDT, IDT and TSS into guest memory
/// and sets GDTR/IDTR/TR/CR0/EFER from outside (no LGDT/LIDT/LTR needed), then runs assembled code.
/// Handlers record what they saw at <see cref="Results"/>.</summary>
internal sealed class SegmentedGuest : IDisposable
{
    public const ulong GdtBase = 0x1000, IdtBase = 0x2000, TssBase = 0x3000, Results = 0x500;
    public const ulong CodeBase = 0x10000;
    public const ulong KernelStack = 0x8000, UserStack = 0x9000, IstStack = 0xA000;

    // The standard GDT this harness writes.
    public const ushort KernelCode32 = 0x08, KernelData = 0x10, KernelCode64 = 0x18, UserCode32 = 0x23, UserData = 0x2B,
        UserCode64 = 0x33, TssSelector = 0x40, KernelCode16 = 0x50;

    public TinyGuest Guest { get; }
    public GuestMemory Memory => Guest.Memory;
    private readonly bool _longMode;

    public SegmentedGuest(bool longMode, EmuOptions? options = null)
    {
        Guest = new TinyGuest(options: options);
        _longMode = longMode;
        SetGdt(KernelCode32 >> 3, Code(dpl: 0, bits: 32));
        SetGdt(KernelData >> 3, Data(dpl: 0));
        SetGdt(KernelCode64 >> 3, Code(dpl: 0, bits: 64));
        SetGdt(UserCode32 >> 3, Code(dpl: 3, bits: 32));
        SetGdt(UserData >> 3, Data(dpl: 3));
        SetGdt(UserCode64 >> 3, Code(dpl: 3, bits: 64));
        SetGdt(KernelCode16 >> 3, Code(dpl: 0, bits: 16));
        // TSS: a 64-bit one has RSP0 at 4 and IST1 at 0x24; a 32-bit one ESP0 at 4 and SS0 at 8.
        ulong tssLimit = 0x67 + 0x2000 / 8 + 1;
        Memory.Write(TssBase, new byte[(int)tssLimit + 1]);
        if (longMode)
        {
            WriteU64(TssBase + 4, KernelStack);
            WriteU64(TssBase + 0x24, IstStack);
            SetGdt(TssSelector >> 3, Descriptor(TssBase, (uint)tssLimit, 0x9, system: true, dpl: 0));
            SetGdt((TssSelector >> 3) + 1, TssBase >> 32);
        }
        else
        {
            WriteU32(TssBase + 4, (uint)KernelStack);
            WriteU32(TssBase + 8, KernelData);
            SetGdt(TssSelector >> 3, Descriptor(TssBase, (uint)tssLimit, 0x9, system: true, dpl: 0));
        }
        // The I/O bitmap follows the 0x68-byte TSS: every port refused until a test opens one.
        WriteU16(TssBase + 0x66, 0x68);
        Memory.Write(TssBase + 0x68, Enumerable.Repeat((byte)0xFF, 0x2000 / 8 + 1).ToArray());
    }

    // ---------------------------------------------------------------- descriptors

    public static ulong Descriptor(ulong baseAddress, uint limit, int type, bool system = false, int dpl = 0,
        bool present = true, bool longCode = false, bool big = false, bool granularity = false)
    {
        ulong d = limit & 0xFFFFUL;
        d |= (baseAddress & 0xFF_FFFF) << 16;
        d |= (ulong)(type & 0xF) << 40;
        if (!system) d |= 1UL << 44;
        d |= (ulong)(dpl & 3) << 45;
        if (present) d |= 1UL << 47;
        d |= (ulong)((limit >> 16) & 0xF) << 48;
        if (longCode) d |= 1UL << 53;
        if (big) d |= 1UL << 54;
        if (granularity) d |= 1UL << 55;
        d |= ((baseAddress >> 24) & 0xFF) << 56;
        return d;
    }

    /// <summary>A flat execute/read code segment (accessed bit clear so tests can see it set).</summary>
    public static ulong Code(int dpl, int bits, ulong baseAddress = 0, bool conforming = false, bool present = true) =>
        Descriptor(baseAddress, 0xFFFFF, conforming ? 0xE : 0xA, dpl: dpl, present: present, longCode: bits == 64,
            big: bits == 32, granularity: true);

    /// <summary>A flat read/write data segment.</summary>
    public static ulong Data(int dpl, bool present = true, bool writable = true) =>
        Descriptor(0, 0xFFFFF, writable ? 0x2 : 0x0, dpl: dpl, present: present, big: true, granularity: true);

    public void SetGdt(int index, ulong descriptor) => WriteU64(GdtBase + (ulong)index * 8, descriptor);
    public ulong GetGdt(int index) => ReadU64(GdtBase + (ulong)index * 8);

    /// <summary>A 32-bit interrupt (0xE) or trap (0xF) gate.</summary>
    public void SetGate32(int vector, ushort selector, ulong offset, int type = 0xE, int dpl = 0, bool present = true)
    {
        ulong d = (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)type << 40) | ((ulong)dpl << 45)
                  | (present ? 1UL << 47 : 0) | ((offset >> 16) << 48);
        WriteU64(IdtBase + (ulong)vector * 8, d);
    }

    /// <summary>A 64-bit interrupt (0xE) or trap (0xF) gate.</summary>
    public void SetGate64(int vector, ushort selector, ulong offset, int type = 0xE, int dpl = 0, int ist = 0, bool present = true)
    {
        ulong low = (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)ist << 32) | ((ulong)type << 40)
                    | ((ulong)dpl << 45) | (present ? 1UL << 47 : 0) | (((offset >> 16) & 0xFFFF) << 48);
        WriteU64(IdtBase + (ulong)vector * 16, low);
        WriteU64(IdtBase + (ulong)vector * 16 + 8, offset >> 32);
    }

    /// <summary>A call gate (legacy 32-bit, or 16 bytes in long mode) in GDT slot <paramref name="index"/>.</summary>
    public void SetCallGate(int index, ushort selector, ulong offset, int dpl, int parameters = 0)
    {
        ulong low = (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(parameters & 0x1F) << 32) | (0xCUL << 40)
                    | ((ulong)dpl << 45) | (1UL << 47) | (((offset >> 16) & 0xFFFF) << 48);
        SetGdt(index, low);
        if (_longMode) SetGdt(index + 1, offset >> 32);
    }

    // ---------------------------------------------------------------- code and memory

    public void Load(ulong address, int bitness, Action<Assembler> build) =>
        Guest.Load(address, TinyGuest.Assemble(bitness, address, build));

    public ulong ReadU64(ulong address) => Memory.ReadUInt64(address);
    public uint ReadU32(ulong address) => Memory.ReadUInt32(address);
    public void WriteU64(ulong address, ulong value) => Memory.Write(address, BitConverter.GetBytes(value));
    public void WriteU32(ulong address, uint value) => Memory.Write(address, BitConverter.GetBytes(value));
    public void WriteU16(ulong address, ushort value) => Memory.Write(address, BitConverter.GetBytes(value));

    /// <summary>Opens (or closes) one port in the TSS I/O bitmap.</summary>
    public void AllowPort(ushort port, bool allow = true)
    {
        ulong address = TssBase + 0x68 + (ulong)(port >> 3);
        byte b = Memory.ReadByte(address);
        Memory.WriteByte(address, allow ? (byte)(b & ~(1 << (port & 7))) : (byte)(b | (1 << (port & 7))));
    }

    // ---------------------------------------------------------------- starting

    /// <summary>The hidden part KVM would hold for <paramref name="selector"/> as loaded from this GDT.</summary>
    public Segment Hidden(ushort selector)
    {
        ulong d = GetGdt(selector >> 3);
        uint raw = (uint)(d & 0xFFFF) | (uint)((d >> 32) & 0xF_0000);
        bool g = (d & (1UL << 55)) != 0;
        return new Segment
        {
            Base = ((d >> 16) & 0xFF_FFFF) | (((d >> 56) & 0xFF) << 24),
            Limit = g ? (raw << 12) | 0xFFF : raw,
            Selector = selector,
            Type = (byte)((d >> 40) & 0xF),
            CodeOrData = (d & (1UL << 44)) != 0,
            Dpl = (byte)((d >> 45) & 3),
            Present = (d & (1UL << 47)) != 0,
            Long = (d & (1UL << 53)) != 0,
            DefaultBig = (d & (1UL << 54)) != 0,
            Granularity = g,
        };
    }

    /// <summary>Starts at <paramref name="rip"/> with CS=<paramref name="cs"/> and every data register and SS
    /// = <paramref name="data"/>; protected mode, or IA-32e mode (paging off: the emulator does not insist on it).</summary>
    public void Start(ulong rip, ushort cs, ushort data, ulong rsp, ulong rflags = 2)
    {
        Segment ds = Hidden(data);
        Segment tr = Hidden(TssSelector);
        tr.Type = 0xB; // busy, as after LTR
        if (_longMode) tr.Base |= GetGdt((TssSelector >> 3) + 1) << 32;
        var s = new SpecialRegisters
        {
            Cs = Hidden(cs), Ds = ds, Es = ds, Fs = ds, Gs = ds, Ss = ds, Tr = tr,
            Ldt = new Segment { Unusable = true },
            Gdt = new DescriptorTable { Base = GdtBase, Limit = 0x7F },
            Idt = new DescriptorTable { Base = IdtBase, Limit = _longMode ? (ushort)0xFFF : (ushort)0x7FF },
            Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et,
            Efer = _longMode ? ControlRegisters.EferLme | ControlRegisters.EferLma : 0,
        };
        Guest.Vcpu.SetSpecialRegisters(s);
        Guest.Vcpu.SetRegisters(new Registers { Rip = rip, Rsp = rsp, Rflags = rflags });
    }

    public VcpuExit Run() => Guest.Run(maxExits: 1000);

    public Registers Registers => Guest.Vcpu.GetRegisters();
    public SpecialRegisters SpecialRegisters => Guest.Vcpu.GetSpecialRegisters();

    /// <summary>The emulated CPU behind the contract, for hooks the contract does not have.</summary>
    public X86Cpu Cpu =>
        (X86Cpu)typeof(EmuVcpu).GetField("_cpu", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(Guest.Vcpu)!;

    public void Dispose() => Guest.Dispose();
}

/// <summary>Exception handlers that record the vector, error code and frame at <see cref="SegmentedGuest.Results"/>
/// and halt (interrupt gates leave IF clear, so HLT ends the run).</summary>
internal static class Recorders
{
    public const ulong Vector = SegmentedGuest.Results, ErrorCode = Vector + 8, SavedIp = Vector + 16,
        SavedCs = Vector + 24, SavedSs = Vector + 32, StackPointer = Vector + 40, SavedSp = Vector + 48;

    /// <summary>32-bit handler: [Vector], [ErrorCode], [SavedIp], [SavedCs], [StackPointer] (after popping the error code).</summary>
    public static void Handler32(SegmentedGuest g, ulong address, int vector, bool hasErrorCode) =>
        g.Load(address, 32, a =>
        {
            a.mov(__dword_ptr[Vector], vector);
            if (hasErrorCode)
            {
                a.pop(eax);
                a.mov(__dword_ptr[ErrorCode], eax);
            }
            a.mov(eax, __dword_ptr[esp]);
            a.mov(__dword_ptr[SavedIp], eax);
            a.mov(eax, __dword_ptr[esp + 4]);
            a.mov(__dword_ptr[SavedCs], eax);
            a.mov(__dword_ptr[StackPointer], esp);
            a.hlt();
        });

    /// <summary>64-bit handler: also [SavedSp] and [SavedSs] from the frame.</summary>
    public static void Handler64(SegmentedGuest g, ulong address, int vector, bool hasErrorCode) =>
        g.Load(address, 64, a =>
        {
            a.mov(__dword_ptr[Vector], vector);
            if (hasErrorCode)
            {
                a.pop(rax);
                a.mov(__qword_ptr[ErrorCode], rax);
            }
            a.mov(rax, __qword_ptr[rsp]);
            a.mov(__qword_ptr[SavedIp], rax);
            a.mov(rax, __qword_ptr[rsp + 8]);
            a.mov(__qword_ptr[SavedCs], rax);
            a.mov(rax, __qword_ptr[rsp + 24]);
            a.mov(__qword_ptr[SavedSp], rax);
            a.mov(rax, __qword_ptr[rsp + 32]);
            a.mov(__qword_ptr[SavedSs], rax);
            a.mov(__qword_ptr[StackPointer], rsp);
            a.hlt();
        });
}
