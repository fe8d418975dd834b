using Vessel.Hypervisor;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

/// <summary>Machines on the fake backend with test devices: a serial port at 0x3f8, isa-debug-exit at 0xf4,
/// a counter at 0x500 and a device that throws at 0x600.</summary>
public sealed class TestMachine : IDisposable
{
    public const ushort CounterPort = 0x500, ThrowingPort = 0x600;

    public TestMachine(int vcpus, Func<int, FakeVirtualMachine, IEnumerable<Func<VcpuExit>>> scriptFor, ulong memoryBytes = 16 << 20)
    {
        Hypervisor = new FakeHypervisor(scriptFor);
        var config = new MachineConfig { MemoryBytes = memoryBytes, VcpuCount = vcpus, StandardDevices = false };
        Machine = new MachineBuilder(Hypervisor, config)
            .AddDevices(context =>
            {
                context.Ports.Register(0x3f8, 8, Serial);
                context.SerialInput = new SerialInput(bytes => { Serial.Receive(bytes); return bytes.Length; }, () => { });
                context.Ports.Register(0xf4, 1, new TestDebugExit(context.SystemControl));
            })
            .AddPortDevice(CounterPort, 1, Counter)
            .AddPortDevice(ThrowingPort, 1, new ThrowingPortDevice())
            .Build();
    }

    public TestMachine(params VcpuExit[] script) : this(1, (_, _) => Script.Of(script)) { }

    public FakeHypervisor Hypervisor { get; }
    public Machine Machine { get; }
    public TestSerial Serial { get; } = new();
    public CountingPortDevice Counter { get; } = new();
    public FakeVirtualMachine Vm => Hypervisor.Machines.Single();

    public static IEnumerable<Func<VcpuExit>> CountForever() => Script.Forever(VcpuExit.IoOut(CounterPort, 1, 0));

    public void Dispose() => Machine.Dispose();
}
