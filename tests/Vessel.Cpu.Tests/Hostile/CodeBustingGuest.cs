using System.Reflection;
using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>A guest that calls a million distinct addresses: 1 MiB of 15 NOPs and a RET, over and over, called at
/// every byte, so every call starts a block the code cache has not seen (1 to 16 instructions long). Each vCPU
/// runs the sweep on its own thread, in 32-bit flat protected mode without paging, in a 16 MiB guest; it ends
/// with a write to <see cref="FinishedPort"/>, or, with <c>forever</c>, starts over until stopped.</summary>
internal sealed class CodeBustingGuest : IDisposable
{
    public const ulong RamBytes = 16 << 20;
    public const uint SledBase = 0x10_0000, SledBytes = 1 << 20;
    /// <summary>Each vCPU writes '!' here when its sweep is done (HLT with interrupts off does not end the run of
    /// a vCPU that another could still wake).</summary>
    public const byte FinishedPort = 0xE9;
    private const uint Program = 0x1000, StackTop = 0x8000, StackStride = 0x800;

    private readonly EmuHypervisor _hypervisor;
    private readonly GuestMemoryRegion _ram = new(RamBytes);
    public IVirtualMachine Vm { get; }
    public IVcpu[] Vcpus { get; }

    /// <param name="sweepBytes">How much of the sled each pass calls into (all of it unless a test wants less).</param>
    /// <param name="passes">Sweeps each vCPU makes before it reports (its 32-bit blocks are interpreted however hot: the native tier takes 64-bit code only).</param>
    public CodeBustingGuest(int vcpus, bool forever = false, EmuOptions? options = null, uint sweepBytes = SledBytes, int passes = 1)
    {
        _hypervisor = new EmuHypervisor(options ?? new EmuOptions());
        Vm = _hypervisor.CreateVirtualMachine();
        Vm.SetMemoryRegion(0, 0, _ram);
        var sled = new byte[SledBytes];
        for (int i = 0; i < sled.Length; i++) sled[i] = (i & 15) == 15 ? (byte)0xC3 : (byte)0x90;
        Vm.Memory.Write(SledBase, sled);
        Vm.Memory.Write(Program, TinyGuest.Assemble(32, Program, a =>
        {
            Label start = a.CreateLabel(), pass = a.CreateLabel(), next = a.CreateLabel();
            a.Label(ref start);
            a.mov(edx, passes);
            a.Label(ref pass);
            a.mov(ebx, SledBase);
            a.mov(ecx, sweepBytes);
            a.Label(ref next);
            a.call(ebx);
            a.inc(ebx);
            a.dec(ecx);
            a.jnz(next);
            a.dec(edx);
            a.jnz(pass);
            if (forever) a.jmp(start);
            a.mov(al, (byte)'!');
            a.@out(FinishedPort, al);
            a.hlt();
        }));
        Vcpus = new IVcpu[vcpus];
        for (int i = 0; i < vcpus; i++)
        {
            Vcpus[i] = Vm.CreateVcpu(i);
            StartFlat(Vcpus[i], StackTop + (uint)i * StackStride);
        }
    }

    /// <summary>Every vCPU on a thread of its own, running until its first exit other than a kick (kicks are ignored unless
    /// <paramref name="stop"/> is set); returns the threads and, per vCPU, its last exit.</summary>
    public (Thread[] Threads, VcpuExit[] LastExits) Start(Func<bool>? stop = null)
    {
        var exits = new VcpuExit[Vcpus.Length];
        var threads = new Thread[Vcpus.Length];
        for (int i = 0; i < Vcpus.Length; i++)
        {
            int id = i;
            threads[i] = new Thread(() =>
            {
                while (true)
                {
                    VcpuExit exit = Vcpus[id].Run();
                    exits[id] = exit;
                    if (exit.Reason == VcpuExitReason.Interrupted && stop?.Invoke() != true) continue;
                    return;
                }
            }) { IsBackground = true, Name = $"code-busting vCPU {id}" };
            threads[i].Start();
        }
        return (threads, exits);
    }

    private static void StartFlat(IVcpu vcpu, ulong rsp)
    {
        var code = new Segment
        {
            Base = 0, Limit = 0xFFFF_FFFF, Selector = 0x08, Type = 0xB, Present = true, CodeOrData = true,
            DefaultBig = true, Granularity = true,
        };
        Segment data = code with { Selector = 0x10, Type = 0x3 };
        vcpu.SetSpecialRegisters(new SpecialRegisters
        {
            Cs = code, Ds = data, Es = data, Fs = data, Gs = data, Ss = data,
            Tr = new Segment { Type = 0xB, Present = true, Limit = 0x67 },
            Ldt = new Segment { Unusable = true },
            Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et,
        });
        vcpu.SetRegisters(new Registers { Rip = Program, Rsp = rsp, Rflags = 2 });
        // An AP created through the contract waits for INIT/SIPI; this guest starts every vCPU directly.
        ((X86Cpu)typeof(EmuVcpu).GetField("_cpu", BindingFlags.NonPublic | BindingFlags.Instance)!
            .GetValue(vcpu)!).WaitingForSipi = false;
    }

    public void Dispose()
    {
        Vm.Dispose();
        _ram.Dispose();
        _hypervisor.Dispose();
    }
}
