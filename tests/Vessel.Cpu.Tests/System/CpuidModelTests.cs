using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>Invariants of the CPUID table: every leaf answered is within the advertised maxima, and every
/// feature bit advertised names something this CPU does (instructions run without #UD).</summary>
public class CpuidModelTests
{
    private static readonly Core.TinyGuest Machine = new();
    private static readonly X86Cpu Cpu = new(((EmuVirtualMachine)Machine.Vm).Machine, 3);

    /// <summary>What vCPU 3 after RESET asks with: CR4.OSXSAVE clear, the APIC enabled.</summary>
    private static readonly CpuidInputs Vcpu3 = new(ApicId: 3, OsXsaveEnabled: false, ApicEnabled: true);

    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) Q(uint leaf, uint sub = 0) => Q(Vcpu3, leaf, sub);

    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) Q(CpuidInputs inputs, uint leaf, uint sub = 0)
    {
        CpuidModel.Query(inputs, leaf, sub, out uint a, out uint b, out uint c, out uint d);
        return (a, b, c, d);
    }

    [Fact]
    public void TheVcpusIdOsxsaveAndApicEnableShowInLeaves1AndB()
    {
        Assert.Equal(0u, Q(1).Ecx & CpuidModel.OsXsave);
        Assert.Equal(CpuidModel.OsXsave, Q(Vcpu3 with { OsXsaveEnabled = true }, 1).Ecx & CpuidModel.OsXsave);
        Assert.Equal(CpuidModel.Apic, Q(1).Edx & CpuidModel.Apic);
        Assert.Equal(0u, Q(Vcpu3 with { ApicEnabled = false }, 1).Edx & CpuidModel.Apic);
        Assert.Equal(7u, Q(Vcpu3 with { ApicId = 7 }, 0xB, 1).Edx);
        Assert.Equal(7u, Q(Vcpu3 with { ApicId = 7 }, 1).Ebx >> 24);
    }

    [Fact]
    public void MaximaCoverEveryAnsweredLeafAndVendorIsIntel()
    {
        Assert.Equal(CpuidModel.MaxBasicLeaf, Q(0).Eax);
        Assert.Equal(CpuidModel.MaxExtendedLeaf, Q(0x8000_0000).Eax);
        foreach (uint leaf in new uint[] { 1, 2, 4, 6, 7, 0xB, 0x15, 0x16 }) Assert.True(leaf <= CpuidModel.MaxBasicLeaf);
        Assert.Equal(Q(CpuidModel.MaxBasicLeaf), Q(0x17));           // beyond the maximum: the highest basic leaf
        Assert.Equal(Q(CpuidModel.MaxBasicLeaf), Q(0x8000_0009));
        var (_, b, c, d) = Q(0);
        Assert.Equal("GenuineIntel", Ascii(b) + Ascii(d) + Ascii(c));
        Assert.Equal(6u, (Q(1).Eax >> 8) & 0xF);
        Assert.Equal(3u, Q(1).Ebx >> 24);                             // APIC ID = vCPU id
        Assert.Equal(3u, Q(0xB, 0).Edx);                              // x2APIC ID
        Assert.Equal((ulong)Vessel.Cpu.Platform.GuestClock.TscHz, (ulong)Q(0x15).Ecx * Q(0x15).Ebx / Q(0x15).Eax);
        Assert.Equal((uint)X86Cpu.PhysicalAddressBits | (48u << 8), Q(0x8000_0008).Eax);
        string brand = string.Concat(new uint[] { 0x8000_0002, 0x8000_0003, 0x8000_0004 }
            .SelectMany(l => { var r = Q(l); return new[] { r.Eax, r.Ebx, r.Ecx, r.Edx }; }).Select(Ascii)).TrimEnd('\0');
        Assert.StartsWith("Vessel", brand);
    }

    private static string Ascii(uint v) => global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(v));

    /// <summary>Bits whose meaning is architectural state rather than an instruction; their behaviour is covered
    /// by the paging, MSR and system tests.</summary>
    private static readonly (string Where, int Bit)[] StateFeatures =
    [
        ("1.edx", 2), ("1.edx", 3), ("1.edx", 6), ("1.edx", 9), ("1.edx", 12), ("1.edx", 13), ("1.edx", 16), ("1.edx", 17),
        ("1.ecx", 21), ("1.ecx", 24), ("1.ecx", 31),
        ("7.ebx", 7), ("7.ebx", 9), ("7.ebx", 20), ("7.ecx", 2), ("7.edx", 29),
        ("x1.edx", 20), ("x1.edx", 26), ("x1.edx", 29),
    ];

    /// <summary>Bits that promise instructions, each with a snippet that uses them.</summary>
    private static readonly (string Where, int Bit, Action<Assembler> Use)[] InstructionFeatures =
    [
        ("1.edx", 4, a => a.rdtsc()),
        ("7.ebx", 1, a => { a.mov(ecx, 0x3B); a.rdmsr(); a.wrmsr(); }), // TSC_ADJUST
        ("1.edx", 5, a => { a.mov(ecx, 0xC000_0082); a.rdmsr(); a.wrmsr(); }),
        ("1.edx", 8, a => { a.mov(rsi, 0x5000); a.cmpxchg8b(__qword_ptr[rsi]); }),
        ("1.edx", 11, a => { a.mov(ecx, 0x174); a.rdmsr(); }),
        ("1.edx", 15, a => a.cmovne(rax, rbx)),
        ("1.edx", 19, a => { a.mov(rsi, 0x5000); a.clflush(__byte_ptr[rsi]); }),
        ("1.ecx", 13, a => { a.mov(rsi, 0x5000); a.cmpxchg16b(__xmmword_ptr[rsi]); }),
        ("1.ecx", 22, a => { a.mov(rsi, 0x5000); a.movbe(eax, __dword_ptr[rsi]); }),
        ("1.ecx", 23, a => a.popcnt(rax, rbx)),
        ("7.ebx", 0, a => { a.mov(rax, cr4); a.or(rax, 1 << 16); a.mov(cr4, rax); a.rdfsbase(rax); a.wrgsbase(rax); }),
        ("7.ecx", 22, a => a.rdpid(rax)),
        ("7.ebx", 23, a => { a.mov(rsi, 0x5000); a.clflushopt(__byte_ptr[rsi]); }),
        ("x1.ecx", 0, a => { a.lahf(); a.sahf(); }),
        ("x1.ecx", 5, a => a.lzcnt(rax, rbx)),
        ("x1.ecx", 8, a => { a.mov(rsi, 0x5000); a.prefetchw(__byte_ptr[rsi]); }),
        ("x1.edx", 11, a =>
        {
            a.mov(ecx, 0xC000_0080); a.rdmsr(); a.or(eax, 1); a.wrmsr();
            var entry = a.CreateLabel();
            a.mov(ecx, 0xC000_0082); a.lea(rax, __[entry]); a.xor(edx, edx); a.wrmsr(); a.syscall();
            a.Label(ref entry); a.nop();
        }),
        ("x1.edx", 27, a => a.rdtscp()),
        ("7.edx", 26, a => { a.mov(ecx, 0x48); a.mov(eax, 1); a.xor(edx, edx); a.wrmsr(); a.rdmsr(); a.mov(ecx, 0x49); a.mov(eax, 1); a.wrmsr(); }),
        ("7.edx", 27, a => { a.mov(ecx, 0x48); a.mov(eax, 2); a.xor(edx, edx); a.wrmsr(); }),
        ("7.edx", 31, a => { a.mov(ecx, 0x48); a.mov(eax, 4); a.xor(edx, edx); a.wrmsr(); }),
    ];

    private static uint Register(string where)
    {
        var r = where switch
        {
            "1.edx" or "1.ecx" => Q(1),
            "7.ebx" or "7.ecx" or "7.edx" => Q(7),
            _ => Q(0x8000_0001),
        };
        return where[^3..] switch { "edx" => r.Edx, "ecx" => r.Ecx, _ => r.Ebx };
    }

    [Fact]
    public void EveryAdvertisedIntegerAndSystemBitIsKnown()
    {
        uint extendedEdx = ExtendedFeatures.Leaf1Edx, extendedEcx = ExtendedFeatures.Leaf1Ecx;
        foreach (string where in new[] { "1.edx", "1.ecx", "7.ebx", "7.ecx", "7.edx", "x1.ecx", "x1.edx" })
        {
            uint bits = Register(where);
            if (where == "1.edx") bits &= ~extendedEdx;
            if (where == "1.ecx") bits &= ~extendedEcx;
            for (int bit = 0; bit < 32; bit++)
            {
                if ((bits & (1u << bit)) == 0) continue;
                bool known = StateFeatures.Contains((where, bit)) || InstructionFeatures.Any(f => f.Where == where && f.Bit == bit);
                Assert.True(known, $"CPUID {where} bit {bit} is advertised but neither tested nor listed");
            }
        }
    }

    [Fact]
    public void TscIsInvariant() => Assert.Equal(1u << 8, Q(0x8000_0007).Edx);

    [Fact]
    public void ArchCapabilitiesMsrDeclaresImmunityAndIsReadOnly()
    {
        Assert.NotEqual(0u, Q(7).Edx & (1u << 29));
        Assert.True(Cpu.TryReadMsr(0x10A, out ulong caps));
        Assert.Equal(0x21UL, caps & 0x21);                 // RDCL_NO (no PTI needed), MDS_NO (no VERW clearing)
        Assert.Equal(1UL << 1, caps & (1UL << 1));         // IBRS_ALL: enhanced IBRS instead of retpolines
        Assert.Equal(1UL << 4, caps & (1UL << 4));         // SSB_NO
        Assert.Equal(1UL << 62, caps & (1UL << 62));       // ITS_NO: no return thunk
        Assert.Equal(0UL, caps & ((1UL << 2) | (1UL << 19))); // neither RSBA nor RRSBA: RET predicted from nowhere else
        Assert.False(Cpu.TryWriteMsr(0x10A, 0));
    }

    [Fact]
    public void SpecCtrlKeepsItsThreeBitsAndPredCmdIsWriteOnly()
    {
        var (_, _, _, edx) = Q(7);
        Assert.Equal(CpuidModel.IbrsIbpb | CpuidModel.Stibp | CpuidModel.Ssbd, edx & (CpuidModel.IbrsIbpb | CpuidModel.Stibp | CpuidModel.Ssbd));
        var cpu = new X86Cpu(((EmuVirtualMachine)Machine.Vm).Machine, 2);
        Assert.True(cpu.TryReadMsr(0x48, out ulong specCtrl));
        Assert.Equal(0UL, specCtrl);
        Assert.True(cpu.TryWriteMsr(0x48, 0b101));         // IBRS | SSBD, as Linux writes it with enhanced IBRS
        Assert.True(cpu.TryReadMsr(0x48, out specCtrl));
        Assert.Equal(0b101UL, specCtrl);
        Assert.False(cpu.TryWriteMsr(0x48, 1UL << 3));    // IPRED_DIS_U: not enumerated, so #GP
        Assert.True(cpu.TryReadMsr(0x48, out specCtrl));
        Assert.Equal(0b101UL, specCtrl);
        Assert.Equal(2u, Q(7).Eax);                        // subleaves 1 and 2 exist
        Assert.Equal(CpuidModel.BhiCtrl, Q(7, 2).Edx);
        Assert.Equal((0u, 0u, 0u, 0u), Q(7, 1));
        Assert.True(cpu.TryWriteMsr(0x48, 1UL << 10));    // BHI_DIS_S, which BHI_CTRL promises
        Assert.True(cpu.TryReadMsr(0x48, out specCtrl));
        Assert.Equal(1UL << 10, specCtrl);
        Assert.True(cpu.TryWriteMsr(0x49, 1));            // IBPB
        Assert.False(cpu.TryWriteMsr(0x49, 2));
        Assert.False(cpu.TryReadMsr(0x49, out _));
    }

    [Fact]
    public void EveryAdvertisedInstructionExecutes()
    {
        foreach (var (where, bit, use) in InstructionFeatures)
        {
            if ((Register(where) & (1u << bit)) == 0) continue;
            using var g = new PageTableGuest();
            g.IdentityMapLarge(8 << 20, P | W | U);
            g.Start64(0x1000, 0x1000, a =>
            {
                use(a);
                a.hlt();
            });
            VcpuExit exit = g.Run();
            Assert.True(exit.Reason == VcpuExitReason.Halt, $"CPUID {where} bit {bit}: {exit.Reason} {exit}");
        }
    }
}
