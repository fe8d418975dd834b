using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Platform;

/// <summary>Two vCPUs on their own threads take a spinlock many times, as Linux does: acquire with a locked
/// read-modify-write, a non-atomic increment of a shared counter inside, release with a plain MOV. A locked
/// instruction that is atomic only against other locked instructions loses a release now and then (its write
/// puts back the value it read), and then both vCPUs spin for ever; a lost update shows as a wrong count.</summary>
public class LockAtomicityTests
{
    private const ushort Bsp = 0x1000, Worker = 0x2000;
    private const ushort LockWord = 0x600, Counter = 0x610, Done = 0x618;
    private const int Rounds = 200_000;
    private const byte FinishedPort = 0xF4;

    public enum Acquire { Cmpxchg, Xchg, Bts, Cmpxchg8b }

    [Theory]
    [InlineData(Acquire.Cmpxchg)]
    [InlineData(Acquire.Xchg)]
    [InlineData(Acquire.Bts)]
    [InlineData(Acquire.Cmpxchg8b)]
    public void A_spinlock_released_by_a_plain_store_keeps_two_vcpus_exclusive(Acquire acquire)
    {
        using var g = new TinyGuest();
        IVcpu ap = g.Vm.CreateVcpu(1);
        g.Load(Worker, TinyGuest.Assemble(16, Worker, a => WorkerLoop(a, acquire)));
        g.Load(Bsp, TinyGuest.Assemble(16, Bsp, a =>
        {
            a.mov(__dword_ptr.fs[0x310], 0x0100_0000);   // destination APIC ID 1
            a.mov(__dword_ptr.fs[0x300], 0x0000_C500);   // INIT, level assert
            a.mov(__dword_ptr.fs[0x300], 0x0000_8500);   // INIT de-assert
            a.mov(__dword_ptr.fs[0x300], 0x0000_4602);   // SIPI: the AP starts at 0x2000
            a.jmp(Worker);
        }));
        g.StartRealMode(Bsp);
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        s.Fs.Base = 0xFEE0_0000;
        g.Vcpu.SetSpecialRegisters(s);

        var threads = new[] { RunUntilFinished(g.Vcpu), RunUntilFinished(ap) };
        bool finished = threads.All(t => t.Join(TimeSpan.FromSeconds(90)));
        if (!finished)
        {
            g.Vcpu.Kick();
            ap.Kick();
        }
        Assert.True(finished, $"the vCPUs still spin after 90 s: a lock release was lost (lock word {g.Memory.ReadUInt32(LockWord)}, count {g.Memory.ReadUInt32(Counter)}, done {g.Memory.ReadUInt32(Done)})");
        Assert.Equal(2u, g.Memory.ReadUInt32(Done));
        Assert.Equal((uint)(2 * Rounds), g.Memory.ReadUInt32(Counter));
    }

    /// <summary>A destination the compare-and-swap cannot take (one that crosses a page, or lies in a page
    /// holding decoded code) runs under the VM's lock instead; XCHG, implicitly locked, must not re-enter the
    /// locked path from there (it once recursed until the stack overflowed).</summary>
    [Fact]
    public void Locked_instructions_on_a_page_crossing_or_code_page_destination_take_the_lock_path()
    {
        const ushort Crossing = 0x0FFE, InCode = Bsp + 0x800;
        using var g = new TinyGuest();
        g.Load(Bsp, TinyGuest.Assemble(16, Bsp, a =>
        {
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(__dword_ptr[Crossing], 0x1122_3344);
            a.mov(eax, 0xAABB_CCDD);
            a.xchg(__dword_ptr[Crossing], eax);
            a.mov(__dword_ptr[InCode], 40);
            a.mov(ecx, 2);
            a.@lock.xadd(__dword_ptr[InCode], ecx);
            a.mov(edx, 7);
            a.xchg(__dword_ptr[InCode], edx);
            a.hlt();
        }));
        g.StartRealMode(Bsp);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0x1122_3344UL, r.Rax & 0xFFFF_FFFF);
        Assert.Equal(0xAABB_CCDDu, g.Memory.ReadUInt32(Crossing));
        Assert.Equal(40UL, r.Rcx & 0xFFFF_FFFF);
        Assert.Equal(42UL, r.Rdx & 0xFFFF_FFFF);
        Assert.Equal(7u, g.Memory.ReadUInt32(InCode));
    }

    private static void WorkerLoop(Assembler a, Acquire acquire)
    {
        Label spin = a.CreateLabel(), taken = a.CreateLabel();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(esi, Rounds);
        a.Label(ref spin);
        switch (acquire)
        {
            case Acquire.Cmpxchg:
                a.xor(eax, eax);
                a.mov(edx, 1);
                a.@lock.cmpxchg(__dword_ptr[LockWord], edx);
                a.je(taken);
                break;
            case Acquire.Xchg:
                a.mov(eax, 1);
                a.xchg(__dword_ptr[LockWord], eax);          // implicitly locked
                a.test(eax, eax);
                a.je(taken);
                break;
            case Acquire.Bts:
                a.@lock.bts(__dword_ptr[LockWord], 0);
                a.jae(taken);                                 // CF clear: the bit was free
                break;
            case Acquire.Cmpxchg8b:
                a.xor(eax, eax);
                a.xor(edx, edx);
                a.mov(ebx, 1);
                a.xor(ecx, ecx);
                a.@lock.cmpxchg8b(__qword_ptr[LockWord]);   // the upper half stays 0 throughout
                a.je(taken);
                break;
        }
        a.pause();
        a.jmp(spin);
        a.Label(ref taken);
        a.mov(ebx, __dword_ptr[Counter]);                    // the critical section: not atomic by itself
        a.inc(ebx);
        a.mov(__dword_ptr[Counter], ebx);
        a.mov(__dword_ptr[LockWord], 0);                     // release: a plain store
        a.dec(esi);
        a.jne(spin);
        a.@lock.inc(__dword_ptr[Done]);
        a.@out(FinishedPort, al);
    }

    private static Thread RunUntilFinished(IVcpu vcpu)
    {
        var thread = new Thread(() =>
        {
            while (true)
            {
                VcpuExit exit = vcpu.Run();
                if (exit.Reason is VcpuExitReason.Interrupted || exit is { Reason: VcpuExitReason.IoOut, Port: FinishedPort }) return;
                if (exit.Reason is VcpuExitReason.IoIn or VcpuExitReason.MmioRead) vcpu.CompleteRead(0);
            }
        }) { IsBackground = true, Name = $"vCPU {vcpu.Id}" };
        thread.Start();
        return thread;
    }
}
