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
        var serial = new SerialCapture();
        using var machine = new MachineBuilder(recorder, new MachineConfig
        {
            MemoryBytes = 32UL << 20, Kernel = PrintThenSpin(), SerialOutput = serial,
        }).Build();
        machine.Start();
        Assert.True(serial.WaitFor("x", TimeSpan.FromSeconds(30)), "the guest never printed");

        // The guest now spins in `jmp $`: its vCPU thread sits in KVM_RUN. Dispose the VM under it.
        var dispose = Task.Run(() => recorder.Created!.Dispose());
        Assert.True(dispose.Wait(TimeSpan.FromSeconds(40)), "disposing the VM did not return");

        // The vCPU thread was kicked out; its next Run is refused, which ends the machine as failed.
        MachineExit? exit = machine.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.NotNull(exit);
        Assert.Contains(nameof(ObjectDisposedException), exit.ToString());
        machine.Dispose();
        recorder.Dispose();
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

    /// <summary>A serial sink a test can wait on.</summary>
    private sealed class SerialCapture : Stream
    {
        private readonly MemoryStream _bytes = new();
        private readonly Lock _lock = new();

        public bool WaitFor(string text, TimeSpan timeout)
        {
            long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (Environment.TickCount64 < deadline)
            {
                lock (_lock)
                    if (System.Text.Encoding.ASCII.GetString(_bytes.ToArray()).Contains(text, StringComparison.Ordinal)) return true;
                Thread.Sleep(10);
            }
            return false;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock) _bytes.Write(buffer, offset, count);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
