using Iced.Intel;
using Vessel.Cli.Tests;
using Vessel.Hypervisor;
using Vessel.Vmm;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Kvm.Tests;

/// <summary>An owner that disposes the KVM VM while a vCPU thread is inside KVM_RUN (a lost Join, a crash path)
/// must not make that thread read an unmapped kvm_run or issue ioctls on a closed fd: the vCPU kicks it out,
/// waits for it, and refuses every later Run with ObjectDisposedException.</summary>
[Trait("Category", "Hostile")]
public sealed class KvmDisposeWhileRunningTests
{
    [KvmFact]
    public void Disposing_the_vm_under_a_vcpu_in_kvm_run_stops_the_thread_cleanly()
    {
        var recorder = new RecordingHypervisor(KvmHypervisor.Open());
        var serial = new MemoryStream();
        using var machine = new MachineBuilder(recorder, new MachineConfig
        {
            MemoryBytes = 32UL << 20, Kernel = PrintThenSpin(), SerialOutput = serial,
        }).Build();
        machine.Start();
        // The guest's one write; the stream's length is a plain field, safe to poll while the vCPU thread writes.
        long deadline = Environment.TickCount64 + 30_000;
        while (serial.Length == 0 && Environment.TickCount64 < deadline) Thread.Sleep(10);
        Assert.True(serial.Length > 0, "the guest never printed");

        // The guest now spins in `jmp $`: its vCPU thread sits in KVM_RUN. Dispose the VM under it.
        var dispose = Task.Run(() => recorder.Created!.Dispose());
        Assert.True(dispose.Wait(TimeSpan.FromSeconds(40)), "disposing the VM did not return");

        // The vCPU thread was kicked out; its next Run is refused, which ends the machine as failed.
        MachineExit? exit = machine.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.NotNull(exit);
        Assert.Contains(nameof(ObjectDisposedException), exit.ToString());
        machine.Dispose();
        recorder.Dispose();
        Assert.Equal("x", System.Text.Encoding.ASCII.GetString(serial.ToArray()));
        Assert.DoesNotContain(Directory.GetFiles("/proc/self/fd"), IsKvmVcpuFd);
    }

    private static bool IsKvmVcpuFd(string fd)
    {
        try
        {
            return new FileInfo(fd).LinkTarget?.Contains("kvm-vcpu", StringComparison.Ordinal) == true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>64-bit ELF: prints "x" on COM1, then spins for ever without an exit.</summary>
    private static byte[] PrintThenSpin()
    {
        var a = new Assembler(64);
        var spin = a.CreateLabel();
        a.mov(dx, (ushort)PcLayout.Com1Port);
        a.mov(al, (byte)'x');
        a.@out(dx, al);
        a.Label(ref spin);
        a.jmp(spin);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>The backend, keeping the VM it created so the test can dispose it behind the machine's back.</summary>
    private sealed class RecordingHypervisor(IHypervisor inner) : IHypervisor
    {
        public IVirtualMachine? Created { get; private set; }
        public string Name => inner.Name;
        public HypervisorCapabilities Capabilities => inner.Capabilities;
        public IVirtualMachine CreateVirtualMachine() => Created = inner.CreateVirtualMachine();
        public void Dispose() => inner.Dispose();
    }
}
