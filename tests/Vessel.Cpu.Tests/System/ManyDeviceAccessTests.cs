using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>The instructions that make the most device accesses — FXSAVE/FXRSTOR and XSAVE/XRSTOR on an area in
/// MMIO (66 stores, 52 loads), a store split into bytes across a page — once ended the VM with an internal error
/// ("one instruction made more than 17 device accesses"). Each access now reaches the device, in order, as on
/// hardware. The device here is RAM-like (it reads back what was written), so a save then a restore through it
/// round-trips the registers only if every access arrived.</summary>
public class ManyDeviceAccessTests
{
    private const ulong MmioLinear = 0x40_0000_0000, MmioPhysical = 0xF000_0000, RamArea = 0x30_0000;

    private sealed class RamLikeDevice
    {
        public readonly Dictionary<ulong, byte> Bytes = [];
        public int Reads, Writes;

        public ulong Read(ulong address, int size)
        {
            Reads++;
            ulong v = 0;
            for (int b = size - 1; b >= 0; b--) v = (v << 8) | Bytes.GetValueOrDefault(address + (ulong)b);
            return v;
        }

        public void Write(ulong address, int size, ulong data)
        {
            Writes++;
            for (int b = 0; b < size; b++) Bytes[address + (ulong)b] = (byte)(data >> (8 * b));
        }
    }

    private static (Registers Regs, RamLikeDevice Device, PageTableGuest Guest) Run(Action<Assembler> build)
    {
        var g = new PageTableGuest();
        g.IdentityMapLarge(8 << 20, P | W);
        g.Map(MmioLinear, MmioPhysical, P | W, 0x20_0000);
        g.Start64(0x1000, 0x1000, a =>
        {
            a.mov(rax, cr4);
            a.or(rax, 0x40600);                             // OSFXSR, OSXMMEXCPT, OSXSAVE
            a.mov(cr4, rax);
            build(a);
        });
        var device = new RamLikeDevice();
        for (int i = 0; i < 100_000; i++)
        {
            VcpuExit exit = g.Vcpu.Run();
            switch (exit.Reason)
            {
                case VcpuExitReason.MmioRead:
                    g.Vcpu.CompleteRead(device.Read(exit.Address, exit.Size));
                    break;
                case VcpuExitReason.MmioWrite:
                    device.Write(exit.Address, exit.Size, exit.Data);
                    break;
                case VcpuExitReason.Halt:
                    return (g.Vcpu.GetRegisters(), device, g);
                default:
                    throw new InvalidOperationException($"unexpected exit {exit}");
            }
        }
        throw new TimeoutException("the guest did not halt");
    }

    private static void LoadXmmPatterns(Assembler a)
    {
        for (int i = 0; i < 16; i++)
        {
            a.mov(rax, 0x0101_0101_0101_0101L * (i + 1));
            a.movq(new AssemblerRegisterXMM(Register.XMM0 + i), rax);
            a.mov(rax, 0x7F00_0000_0000_0000L | (long)i << 8 | 0x55);
            a.pinsrq(new AssemblerRegisterXMM(Register.XMM0 + i), rax, 1);
        }
    }

    private static void ClobberXmm(Assembler a)
    {
        for (int i = 0; i < 16; i++) a.pxor(new AssemblerRegisterXMM(Register.XMM0 + i), new AssemblerRegisterXMM(Register.XMM0 + i));
    }

    /// <summary>Sums every XMM register's two halves into RBX (rotating, so a swapped register shows).</summary>
    private static void FoldXmmIntoRbx(Assembler a)
    {
        a.xor(ebx, ebx);
        for (int i = 0; i < 16; i++)
        {
            a.movq(rax, new AssemblerRegisterXMM(Register.XMM0 + i));
            a.rol(rbx, 5);
            a.add(rbx, rax);
            a.pextrq(rax, new AssemblerRegisterXMM(Register.XMM0 + i), 1);
            a.rol(rbx, 5);
            a.add(rbx, rax);
        }
    }

    [Fact]
    public void FxsaveToMmioWritesTheSameImageAsToRamAndFxrstorFromMmioRestoresIt()
    {
        var (expected, _, reference) = Run(a =>
        {
            LoadXmmPatterns(a);
            FoldXmmIntoRbx(a);
            a.hlt();
        });
        reference.Dispose();

        var (r, device, g) = Run(a =>
        {
            LoadXmmPatterns(a);
            a.mov(rdi, RamArea);
            a.fxsave(__[rdi]);
            a.mov(rdi, unchecked((long)(MmioLinear + 0xE00)));   // the area crosses into the next MMIO page
            a.fxsave(__[rdi]);
            ClobberXmm(a);
            a.fxrstor(__[rdi]);
            FoldXmmIntoRbx(a);
            a.hlt();
        });
        using (g)
        {
            Assert.Equal(expected.Rbx, r.Rbx);
            for (ulong i = 0; i < 512; i++)
                Assert.Equal(g.Memory.ReadByte(RamArea + i), device.Bytes.GetValueOrDefault(MmioPhysical + 0xE00 + i));
            Assert.True(device.Writes > 17, $"{device.Writes} device writes");
            Assert.True(device.Reads > 17, $"{device.Reads} device reads");
        }
    }

    [Fact]
    public void XsaveAndXrstorThroughMmioRoundTripTheSseState()
    {
        var (expected, _, reference) = Run(a =>
        {
            LoadXmmPatterns(a);
            FoldXmmIntoRbx(a);
            a.hlt();
        });
        reference.Dispose();

        var (r, device, g) = Run(a =>
        {
            a.xor(ecx, ecx);
            a.mov(eax, 3);                                     // XCR0 = x87 | SSE
            a.xor(edx, edx);
            a.xsetbv();
            LoadXmmPatterns(a);
            a.mov(rdi, unchecked((long)(MmioLinear + 0x1000 - 0x100)));
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsave(__[rdi]);
            ClobberXmm(a);
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xrstor(__[rdi]);
            FoldXmmIntoRbx(a);
            a.hlt();
        });
        using (g)
        {
            Assert.Equal(expected.Rbx, r.Rbx);
            Assert.True(device.Writes > 17 && device.Reads > 17, $"{device.Writes} writes, {device.Reads} reads");
        }
    }
}
