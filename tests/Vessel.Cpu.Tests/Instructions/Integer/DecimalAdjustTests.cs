using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu.Tests.Instructions.Integer;

/// <summary>The BCD adjustments in real mode, after the ADD/SUB whose result they correct: AL/AX and CF/AF as
/// the SDM's definitions give them for packed (DAA/DAS) and unpacked (AAA/AAS/AAM/AAD) decimal.</summary>
public class DecimalAdjustTests
{
    private const ulong CfAf = RflagsBits.Cf | RflagsBits.Af;

    /// <summary>AX = <paramref name="initialAx"/>, then ADD or SUB AL, <paramref name="operand"/>, then the adjustment
    /// encoded by <paramref name="adjust"/>; returns AX and RFLAGS at the HLT.</summary>
    private static (ulong Ax, ulong Flags) Run(ushort initialAx, bool subtract, byte operand, params byte[] adjust)
    {
        using var g = new TinyGuest();
        g.Load(0x1000, TinyGuest.Assemble(16, 0x1000, a =>
        {
            a.cli();
            a.mov(ax, initialAx);
            if (subtract) a.sub(al, operand); else a.add(al, operand);
            foreach (byte b in adjust) a.db(b);
            a.hlt();
        }));
        g.StartRealMode(0x1000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        return (r.Rax & 0xFFFF, r.Rflags);
    }

    [Fact]
    public void DaaCorrectsPackedAdditionWithCarry()
    {
        (ulong result, ulong flags) = Run(0x0079, subtract: false, 0x35, 0x27); // 79 + 35 = 114
        Assert.Equal(0x14UL, result & 0xFF);
        Assert.Equal(CfAf, flags & CfAf);
    }

    [Fact]
    public void DasCorrectsPackedSubtractionWithBorrow()
    {
        (ulong result, ulong flags) = Run(0x0035, subtract: true, 0x47, 0x2F); // 35 - 47 = -12, i.e. 88 borrow 1
        Assert.Equal(0x88UL, result & 0xFF);
        Assert.Equal(CfAf, flags & CfAf);
    }

    [Fact]
    public void DaaLeavesAValidDigitPairAndClearsCarry()
    {
        (ulong result, ulong flags) = Run(0x0012, subtract: false, 0x34, 0x27); // 12 + 34 = 46
        Assert.Equal(0x46UL, result & 0xFF);
        Assert.Equal(0UL, flags & CfAf);
        Assert.Equal(0UL, flags & RflagsBits.Zf);
    }

    [Fact]
    public void AaaCarriesIntoAh()
    {
        (ulong result, ulong flags) = Run(0x0009, subtract: false, 0x08, 0x37); // 9 + 8 = 17
        Assert.Equal(0x0107UL, result);
        Assert.Equal(CfAf, flags & CfAf);
    }

    [Fact]
    public void AasBorrowsFromAh()
    {
        (ulong result, ulong flags) = Run(0x0205, subtract: true, 0x08, 0x3F); // 25 - 8 = 17
        Assert.Equal(0x0107UL, result);
        Assert.Equal(CfAf, flags & CfAf);
    }

    [Fact]
    public void AaaWithoutAdjustmentClearsTheHighNibbleAndCarry()
    {
        (ulong result, ulong flags) = Run(0x0300, subtract: false, 0x34, 0x37); // AL 0x34: low digit 4 stays
        Assert.Equal(0x0304UL, result);
        Assert.Equal(0UL, flags & CfAf);
    }

    [Fact]
    public void AamSplitsAndAadJoinsDigits()
    {
        (ulong split, ulong splitFlags) = Run(0x0000, subtract: false, 0x4F, 0xD4, 0x0A); // 79 -> AH 7, AL 9
        Assert.Equal(0x0709UL, split);
        Assert.Equal(RflagsBits.Pf, splitFlags & (RflagsBits.Pf | RflagsBits.Zf | RflagsBits.Sf)); // AL 0x09: even parity
        (ulong joined, ulong joinedFlags) = Run(0x0700, subtract: false, 0x09, 0xD5, 0x0A); // AH 7, AL 9 -> 79
        Assert.Equal(0x004FUL, joined);
        Assert.Equal(0UL, joinedFlags & (RflagsBits.Pf | RflagsBits.Zf | RflagsBits.Sf)); // AL 0x4F: odd parity
    }

    [Fact]
    public void AamByZeroRaisesDivideError()
    {
        using var g = new TinyGuest();
        g.Load(0x1000, TinyGuest.Assemble(16, 0x1000, a =>
        {
            a.cli();
            a.mov(ax, 0x1234);
            a.db(0xD4, 0x00);
            a.hlt();
        }));
        g.Load(0x2000, TinyGuest.Assemble(16, 0x2000, a =>
        {
            a.mov(bx, 0xDEAD);
            a.hlt();
        }));
        g.Memory.Write(0, new byte[] { 0x00, 0x20, 0x00, 0x00 }); // IVT[0] = 0000:2000
        g.StartRealMode(0x1000);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0xDEADUL, r.Rbx & 0xFFFF);
        Assert.Equal(0x1234UL, r.Rax & 0xFFFF);
    }
}
