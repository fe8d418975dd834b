using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>How an emulator run ended.</summary>
internal readonly record struct EmulatorOutcome(CpuState State, int ExceptionVector, string? Error);

/// <summary>Runs instruction bytes on the emu CPU in 64-bit ring 0 with 4-level paging: the first 2 MiB
/// identity-mapped, and the native window's linear addresses mapped onto guest RAM, so memory operands and RSP
/// hold the same values in both worlds. The bytes are followed by OUT to <see cref="DonePort"/>; every exception
/// vector v has a handler doing OUT to <see cref="VectorPortBase"/>+v. One VM and vCPU serve every case.</summary>
internal sealed class EmulatorExecutor : IDisposable
{
    public const byte DonePort = 0xF0, VectorPortBase = 0x80;
    private const ulong GdtAt = 0x1000, IdtAt = 0x2000, HandlersAt = 0x3000, CodeAt = 0x10000;
    private const ulong TablesAt = 0x100000, WindowGpa = 0x180000;
    private const ushort CodeSelector = 0x08, DataSelector = 0x10;
    private const ulong Present = 1, Writable = 2, Large = 0x80;

    private readonly EmuHypervisor _hypervisor;
    private readonly IVirtualMachine _vm;
    private readonly GuestMemoryRegion _ram;
    private readonly IVcpu _vcpu;
    private readonly ulong _windowBase;
    private readonly int _windowSize;
    private ulong _nextTable = TablesAt + 0x1000;
    private readonly SpecialRegisters _special;
    /// <summary>Set after an exception or odd exit, so the next case restores the system state.</summary>
    private bool _dirtySpecial = true;

    /// <summary>How many times each case runs on unchanged code (2 with JitThreshold 1: the second run is compiled).</summary>
    private readonly int _runs;

    public EmulatorExecutor(EmuOptions options, ulong windowBase, int windowSize, int runs = 1)
    {
        _runs = runs;
        _windowBase = windowBase;
        _windowSize = windowSize;
        _hypervisor = new EmuHypervisor(options);
        _vm = _hypervisor.CreateVirtualMachine();
        _ram = new GuestMemoryRegion(4 << 20);
        _vm.SetMemoryRegion(0, 0, _ram);
        _vcpu = _vm.CreateVcpu(0);
        var mem = _vm.Memory;

        mem.WriteUInt64(GdtAt + CodeSelector, 0x00AF_9A00_0000_FFFF); // 64-bit ring-0 code
        mem.WriteUInt64(GdtAt + DataSelector, 0x00CF_9200_0000_FFFF);
        for (int v = 0; v < 32; v++)
        {
            ulong handler = HandlersAt + (ulong)v * 4;
            mem.Write(handler, [0xE6, (byte)(VectorPortBase + v), 0xF4, 0xF4]); // out imm8, al; hlt
            ulong low = (handler & 0xFFFF) | ((ulong)CodeSelector << 16) | (0xEUL << 40) | (1UL << 47) | ((handler >> 16 & 0xFFFF) << 48);
            mem.WriteUInt64(IdtAt + (ulong)v * 16, low);
            mem.WriteUInt64(IdtAt + (ulong)v * 16 + 8, handler >> 32);
        }

        // PML4 at TablesAt; identity 2 MiB page for the low tables and code.
        Map2M(0, 0);
        for (ulong off = 0; off < (ulong)windowSize; off += 4096) Map4K(windowBase + off, WindowGpa + off);

        _special = new SpecialRegisters
        {
            Cs = Segment.Flat(CodeSelector, code: true, longMode: true),
            Ds = Segment.Flat(DataSelector, code: false), Es = Segment.Flat(DataSelector, code: false),
            Ss = Segment.Flat(DataSelector, code: false),
            Fs = Segment.Flat(DataSelector, code: false), Gs = Segment.Flat(DataSelector, code: false),
            Tr = new Segment { Type = 0xB, Present = true, Limit = 0x67 },
            Ldt = new Segment { Unusable = true },
            Gdt = new DescriptorTable { Base = GdtAt, Limit = 0x17 },
            Idt = new DescriptorTable { Base = IdtAt, Limit = 32 * 16 - 1 },
            Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Ne,
            Cr3 = TablesAt,
            Cr4 = ControlRegisters.Cr4Pae,
            Efer = ControlRegisters.EferLme | ControlRegisters.EferLma,
        };
        _vcpu.SetSpecialRegisters(_special);
    }

    private ulong Table(ulong entryAddress)
    {
        ulong e = _vm.Memory.ReadUInt64(entryAddress);
        if ((e & Present) != 0) return e & 0x000F_FFFF_FFFF_F000;
        ulong t = _nextTable;
        _nextTable += 0x1000;
        _vm.Memory.Fill(t, 0x1000, 0);
        _vm.Memory.WriteUInt64(entryAddress, t | Present | Writable);
        return t;
    }

    private ulong PageDirectory(ulong linear)
    {
        ulong pdpt = Table(TablesAt + ((linear >> 39) & 511) * 8);
        return Table(pdpt + ((linear >> 30) & 511) * 8);
    }

    private void Map2M(ulong linear, ulong phys) =>
        _vm.Memory.WriteUInt64(PageDirectory(linear) + ((linear >> 21) & 511) * 8, phys | Present | Writable | Large);

    private void Map4K(ulong linear, ulong phys)
    {
        ulong pt = Table(PageDirectory(linear) + ((linear >> 21) & 511) * 8);
        _vm.Memory.WriteUInt64(pt + ((linear >> 12) & 511) * 8, phys | Present | Writable);
    }

    /// <summary>Runs the bytes from <paramref name="input"/>; the window is loaded from and read back into
    /// <paramref name="window"/>.</summary>
    public EmulatorOutcome Run(ReadOnlySpan<byte> code, CpuState input, Span<byte> window)
    {
        var mem = _vm.Memory;
        byte[] program = new byte[code.Length + 2];
        code.CopyTo(program);
        program[^2] = 0xE6;
        program[^1] = DonePort;
        mem.Write(CodeAt, program);
        var r = new Registers { Rip = CodeAt, Rflags = input.Rflags };
        for (int i = 0; i < 16; i++) r[i] = input.Gpr[i];
        VcpuExit exit = default;
        for (int run = 0; run < _runs; run++)
        {
            mem.Write(WindowGpa, window);
            if (_dirtySpecial) _vcpu.SetSpecialRegisters(_special);
            _dirtySpecial = false;
            _vcpu.SetRegisters(r);
            exit = _vcpu.Run();
            if (exit.Reason != VcpuExitReason.IoOut || exit.Port != DonePort) break;
        }

        int vector = -1;
        string? error = null;
        if (exit.Reason == VcpuExitReason.IoOut && exit.Port == DonePort) { }
        else if (exit.Reason == VcpuExitReason.IoOut && exit.Port >= VectorPortBase && exit.Port < VectorPortBase + 32)
        {
            vector = exit.Port - VectorPortBase;
            _dirtySpecial = true;
        }
        else
        {
            error = $"unexpected exit {exit}";
            _dirtySpecial = true;
        }

        Registers o = _vcpu.GetRegisters();
        var output = new CpuState { Rflags = o.Rflags };
        for (int i = 0; i < 16; i++) output.Gpr[i] = o[i];
        mem.Read(WindowGpa, window);
        return new EmulatorOutcome(output, vector, error);
    }

    /// <summary>Reads a qword the guest stored at a window address (an exception frame, for instance).</summary>
    public ulong ReadWindowQword(ulong linear) => _vm.Memory.ReadUInt64(WindowGpa + (linear - _windowBase));

    public void Dispose()
    {
        _vcpu.Dispose();
        _vm.Dispose();
        _ram.Dispose();
        _hypervisor.Dispose();
    }
}
