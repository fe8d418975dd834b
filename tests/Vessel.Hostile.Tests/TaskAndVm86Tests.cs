using Iced.Intel;
using Vessel.Vmm;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Hostile.Tests;

/// <summary>What once ended a VM with an internal error on the emu CPU, tried through the whole machine: hardware
/// task switches (CALL/JMP to a TSS or task gate, IRET with NT, exceptions through IDT task gates, a TSS whose
/// segments are bad), IRET into virtual-8086 mode and what a virtual-8086 program may do there, and FXSAVE/FXRSTOR
/// on MMIO where no device answers. Each VM must go on to its end, or end in the guest's own exception handler as
/// hardware would, never with a VMM error.</summary>
[Trait("Category", "Hostile")]
public class TaskAndVm86Tests(ITestOutputHelper output)
{
    private const uint Gdt = 0x20_0000, Gdtr = 0x20_0F00, TssA = 0x20_1000, TssB = 0x20_2000;
    private const uint StackB = 0x21_0000, Ring0Stack = 0x22_0000, Vm86Code = 0x7_0000;
    private const ushort Code = 0x08, Data = 0x10, TaskA = 0x18, TaskB = 0x20, TaskGateB = 0x28;

    private static void Store32(Assembler a, uint address, uint value) => a.mov(__dword_ptr[address], value);

    private static void Store64(Assembler a, uint address, ulong value)
    {
        Store32(a, address, (uint)value);
        Store32(a, address + 4, (uint)(value >> 32));
    }

    private static ulong SystemDescriptor(uint baseAddress, uint limit, int type) =>
        (limit & 0xFFFFUL) | ((ulong)(baseAddress & 0xFF_FFFF) << 16) | ((ulong)type << 40) | (1UL << 47)
        | ((ulong)((limit >> 16) & 0xF) << 48) | ((ulong)(baseAddress >> 24) << 56);

    /// <summary>A GDT like the loader's (flat code 0x08 and data 0x10) plus TSS A (loaded into TR, ring-0 stack for
    /// virtual-8086 interrupts), TSS B whose task runs the code after a CALL here (EIP taken from the return
    /// address) and a task gate to B; then <paramref name="taskB"/> (B's code) and <paramref name="body"/>.</summary>
    private static byte[] Kernel(Action<Assembler, Label> taskB, Action<Assembler> body, Action<Assembler>? tssB = null) =>
        HostileGuest.Kernel(a =>
        {
            Store64(a, Gdt, 0);
            Store64(a, Gdt + 0x08, 0x00CF_9A00_0000_FFFF);
            Store64(a, Gdt + 0x10, 0x00CF_9200_0000_FFFF);
            Store64(a, Gdt + TaskA, SystemDescriptor(TssA, 0x67, 0x9));
            Store64(a, Gdt + TaskB, SystemDescriptor(TssB, 0x67, 0x9));
            Store64(a, Gdt + TaskGateB, ((ulong)TaskB << 16) | (0x85UL << 40));
            a.mov(__word_ptr[Gdtr], 0x2F);
            Store32(a, Gdtr + 2, Gdt);
            a.lgdt(__[Gdtr]);
            a.mov(ax, Data);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            Store32(a, TssA + 4, Ring0Stack);
            Store32(a, TssA + 8, Data);
            Store32(a, TssA + 0x64, 0x68 << 16);             // I/O bitmap base past the limit: no bitmap
            a.mov(ax, TaskA);
            a.ltr(ax);
            // TSS B: its EIP is the address the CALL pushes, the code right after it.
            var afterTask = a.CreateLabel();
            var finish = a.CreateLabel();
            a.call(afterTask);
            taskB(a, finish);
            a.Label(ref afterTask);
            a.pop(eax);
            a.mov(__dword_ptr[TssB + 0x20], eax);
            Store32(a, TssB + 0x24, 2);
            Store32(a, TssB + 0x38, StackB);
            foreach (uint offset in new uint[] { 0x48, 0x50, 0x54, 0x58, 0x5C }) Store32(a, TssB + offset, Data);
            Store32(a, TssB + 0x4C, Code);
            tssB?.Invoke(a);
            body(a);
            a.Label(ref finish);
        });

    private HostileRun RunAndReport(byte[] kernel)
    {
        var run = HostileGuest.Run(kernel, TimeSpan.FromSeconds(30));
        output.WriteLine($"exit: {run.Exit}; serial \"{run.Serial}\"; vector {run.Vector}");
        HostileGuest.AssertContained(run);
        return run;
    }

    private static void AssertFinished(HostileRun run)
    {
        Assert.Equal(MachineExitKind.GuestExit, run.Exit.Kind);
        Assert.Equal(HostileRun.Finished, run.Exit.Status);
    }

    [Fact]
    public void Call_to_a_tss_and_iret_back_through_the_link()
    {
        var run = RunAndReport(Kernel(
            (a, _) =>
            {
                var again = a.CreateLabel();                 // task B: NT is set, so IRET goes back to A
                a.Label(ref again);
                a.iretd();
                a.jmp(again);
            },
            a =>
            {
                a.call(TaskB, 0);
                a.call(TaskGateB, 0);                        // and again through the gate: B restarts after its IRET
            }));
        AssertFinished(run);
    }

    [Fact]
    public void Jump_through_a_gdt_task_gate()
    {
        var run = RunAndReport(Kernel((a, finish) => a.jmp(finish), a => a.jmp(TaskGateB, 0)));
        AssertFinished(run);
    }

    [Fact]
    public void A_fault_through_an_idt_task_gate()
    {
        // #GP's IDT entry becomes a task gate to B; B pops the error code and finishes.
        var run = RunAndReport(Kernel(
            (a, finish) =>
            {
                a.pop(ebx);
                a.jmp(finish);
            },
            a =>
            {
                a.sidt(__[0x20_0F80]);
                a.mov(ebx, __dword_ptr[0x20_0F82]);
                a.mov(__dword_ptr[ebx + 13 * 8], (uint)TaskB << 16);
                a.mov(__dword_ptr[ebx + 13 * 8 + 4], 0x8500);
                a.mov(ax, 0x7FF8);                            // far past the GDT limit: #GP(0x7ff8)
                a.mov(ds, ax);
            }));
        AssertFinished(run);
    }

    [Fact]
    public void A_task_with_a_bad_code_segment_faults_in_the_new_task()
    {
        var run = RunAndReport(Kernel((a, _) => a.hlt(), a => a.jmp(TaskB, 0),
            a => Store32(a, TssB + 0x4C, Data)));           // B's CS names a data segment: #TS
        Assert.Equal(10, run.Vector);
    }

    [Fact]
    public void Iret_with_nt_and_no_busy_task_linked()
    {
        var run = RunAndReport(Kernel((a, _) => a.hlt(), a =>
        {
            a.pushfd();
            a.or(__dword_ptr[esp], 1 << 14);
            a.popfd();
            a.iretd();                                      // the link of TSS A is 0: #TS
        }));
        Assert.Equal(10, run.Vector);
    }

    /// <summary>IRET into virtual-8086 code that runs <paramref name="code"/>; with IOPL 0 the IOPL-sensitive
    /// instructions fault to the ring-0 #GP handler, with IOPL 3 INT 0x30 finds no IDT entry: #GP as well.</summary>
    [Theory]
    [InlineData(0, new byte[] { 0xFA })]                    // CLI
    [InlineData(0, new byte[] { 0x9C })]                    // PUSHF
    [InlineData(0, new byte[] { 0xCD, 0x21 })]              // INT 0x21
    [InlineData(3, new byte[] { 0xB8, 0x00, 0x10, 0x8E, 0xD8, 0xFA, 0xFB, 0x9C, 0x9D, 0xCD, 0x30 })] // MOV DS, CLI, STI, PUSHF, POPF, INT 0x30
    [InlineData(3, new byte[] { 0xE6, 0x80 })]              // OUT 0x80: the TSS has no I/O bitmap
    [InlineData(3, new byte[] { 0x0F, 0x00, 0xC8 })]        // STR AX: #UD in virtual-8086 mode
    public void Virtual_8086_mode(int iopl, byte[] code)
    {
        var run = RunAndReport(Kernel((a, _) => a.hlt(), a =>
        {
            for (int i = 0; i < code.Length; i++) a.mov(__byte_ptr[Vm86Code + (uint)i], code[i]);
            foreach (int value in new[] { 0, 0, 0, 0, 0x6000, 0xFFF0, 0x2_0002 | (iopl << 12), (int)(Vm86Code >> 4), 0 })
                a.push(value);                              // GS FS DS ES SS ESP EFLAGS(VM) CS EIP
            a.iretd();
        }));
        Assert.Equal(code[0] == 0x0F ? 6 : 13, run.Vector);
    }

    [Fact]
    public void Fxsave_and_fxrstor_where_no_device_answers()
    {
        var run = RunAndReport(Kernel((a, _) => a.hlt(), a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x600);
            a.mov(cr4, eax);
            a.mov(edi, 0xE000_0000);
            a.fxsave(__[edi]);
            a.fxrstor(__[edi]);
        }));
        // All ones read back has MXCSR's reserved bits set: #GP, as hardware raises; nothing else may happen.
        Assert.True(run.Exit.Status == HostileRun.Finished || run.Vector == 13, $"ended {run.Exit}");
    }
}
