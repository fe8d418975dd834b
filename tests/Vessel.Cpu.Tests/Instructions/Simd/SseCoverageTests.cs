using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Every legacy-encoded MMX/SSE..SSE4.2/POPCNT/FXSR/XSAVE form Iced knows (32-bit mode) executes on the
/// emu CPU without #UD, from register and aligned memory operands: no form the CPUID model advertises is left
/// out of the dispatcher. (Values are checked against the host by the other Fpu tests.)</summary>
public class SseCoverageTests
{
    private static readonly HashSet<CpuidFeature> Advertised =
    [
        CpuidFeature.MMX, CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1,
        CpuidFeature.SSE4_2, CpuidFeature.POPCNT, CpuidFeature.FXSR, CpuidFeature.XSAVE, CpuidFeature.XSAVEOPT, CpuidFeature.XSAVEC,
    ];

    public static TheoryData<string> Forms() => Select(mode64: false);

    /// <summary>The forms that exist only in 64-bit mode (REX.W operands).</summary>
    public static TheoryData<string> Forms64() => Select(mode64: true);

    private static TheoryData<string> Select(bool mode64)
    {
        var d = new TheoryData<string>();
        foreach (Code c in Enum.GetValues<Code>())
        {
            if (c == Code.INVALID) continue;
            OpCodeInfo op = c.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy || (mode64 ? op.Mode32 || !op.Mode64 : !op.Mode32) || !c.CpuidFeatures().All(Advertised.Contains)) continue;
            if (c.Mnemonic() is Mnemonic.Xsetbv or Mnemonic.Xrstor) continue; // need a valid XCR0 value / image: SseStateTests
            if (Build(c) is not null) d.Add(c.ToString());
        }
        return d;
    }

    /// <summary>The instruction with registers XMM1/XMM2, MM1/MM2, EAX/ECX, memory at DataAddress, imm8 5.</summary>
    private static Instruction? Build(Code code)
    {
        OpCodeInfo op = code.ToOpCode();
        var ins = new Instruction { Code = code };
        int reg = 0;
        for (int i = 0; i < op.OpCount; i++)
        {
            reg++;
            switch (op.GetOpKind(i))
            {
                case OpCodeOperandKind.xmm_reg: case OpCodeOperandKind.xmm_rm: case OpCodeOperandKind.xmm_or_mem when reg == 2:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.XMM0 + reg); break;
                case OpCodeOperandKind.xmm_or_mem:
                    ins.SetOpKind(i, OpKind.Memory); ins.MemoryDisplacement64 = SseGuest.DataAddress; ins.MemoryDisplSize = 4; break;
                case OpCodeOperandKind.mm_reg: case OpCodeOperandKind.mm_rm:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.MM0 + reg); break;
                case OpCodeOperandKind.mm_or_mem:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.MM0 + reg); break;
                case OpCodeOperandKind.r32_reg: case OpCodeOperandKind.r32_rm: case OpCodeOperandKind.r32_or_mem:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, reg == 1 ? Register.EAX : Register.ECX); break;
                case OpCodeOperandKind.r64_reg: case OpCodeOperandKind.r64_rm: case OpCodeOperandKind.r64_or_mem:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, reg == 1 ? Register.RAX : Register.RCX); break;
                case OpCodeOperandKind.r16_reg: case OpCodeOperandKind.r16_rm: case OpCodeOperandKind.r16_or_mem:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, reg == 1 ? Register.AX : Register.CX); break;
                case OpCodeOperandKind.r8_or_mem:
                    ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, Register.CL); break;
                case OpCodeOperandKind.mem:
                    ins.SetOpKind(i, OpKind.Memory); ins.MemoryDisplacement64 = SseGuest.DataAddress; ins.MemoryDisplSize = 4; break;
                case OpCodeOperandKind.imm8:
                    ins.SetOpKind(i, OpKind.Immediate8); ins.Immediate8 = 5; break;
                case OpCodeOperandKind.seg_rDI:
                    ins.SetOpKind(i, OpKind.MemorySegEDI); break;
                default:
                    return null; // implicit XMM0 (BLENDV) and such: covered by the value tests
            }
        }
        return ins;
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void ExecutesWithoutUd(string name)
    {
        Instruction ins = Build(Enum.Parse<Code>(name))!.Value;
        var writer = new CodeWriterImpl();
        Encoder.Create(32, writer).Encode(ins, SseGuest.CodeAddress);
        byte[] bytes = writer.Bytes.ToArray();
        using var g = new SseGuest();
        g.Run(a => { a.mov(AssemblerRegisters.edi, (uint)SseGuest.DataAddress); a.db(bytes); a.emms(); }, new Vector128<byte>[8],
            adjust: sr => { sr.Cr4 |= ControlRegisters.Cr4Osxsave; return sr; });
        Assert.Equal("", g.Exceptions);
    }

    [Theory]
    [MemberData(nameof(Forms64))]
    public void LongModeFormsExecuteWithoutUd(string name)
    {
        Instruction ins = Build(Enum.Parse<Code>(name))!.Value;
        if (ins.Op0Kind == OpKind.Memory || (ins.OpCount > 1 && ins.Op1Kind == OpKind.Memory)) ins.MemoryDisplSize = 4;
        var writer = new CodeWriterImpl();
        Encoder.Create(64, writer).Encode(ins, 0x1000);
        using var g = new Vessel.Cpu.Tests.System.PageTableGuest();
        g.IdentityMapLarge(0x20_0000);
        g.Start64(0x1000, 0x1000, a =>
        {
            a.mov(AssemblerRegisters.rdi, 0x3000UL);
            a.mov(AssemblerRegisters.rax, 0x3000UL);
            a.db(writer.Bytes.ToArray());
            a.emms();
            a.hlt();
        });
        var sr = g.Vcpu.GetSpecialRegisters();
        sr.Cr4 |= ControlRegisters.Cr4Osfxsr | ControlRegisters.Cr4Osxmmexcpt | ControlRegisters.Cr4Osxsave;
        sr.Cr0 |= ControlRegisters.Cr0Mp;
        g.Vcpu.SetSpecialRegisters(sr);
        VcpuExit exit = g.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x1000UL + (ulong)TinyGuestLength(writer.Bytes.Count), g.Vcpu.GetRegisters().Rip);
    }

    /// <summary>RIP after HLT: two 10-byte MOVs, the instruction, EMMS (2 bytes) and HLT (1 byte).</summary>
    private static int TinyGuestLength(int instructionBytes) => 10 + 10 + instructionBytes + 2 + 1;

    private sealed class CodeWriterImpl : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
