using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>Builds random cases for one Iced <see cref="Code"/> from its operand kinds: registers (never RSP,
/// which points at the private stack), memory operands with random base/index/scale/displacement aimed into the
/// window, edge-biased immediates; then per-mnemonic fixes (shift counts, no #DE, bit offsets that stay in the
/// window, CMPXCHG that sometimes matches).</summary>
internal sealed class CaseGenerator(ulong windowBase)
{
    /// <summary>The background every case's window starts from (random once; operand bytes are random per case),
    /// which saves filling the whole window per case.</summary>
    private readonly byte[] _background = RandomWindow();

    private static byte[] RandomWindow()
    {
        var w = new byte[WindowLayout.WindowBytes];
        new Random(WindowLayout.WindowBytes).NextBytes(w);
        return w;
    }

    private static readonly int[] AddressPool = [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    public static bool Supports(Code code)
    {
        var op = code.ToOpCode();
        if (!op.Mode64 || op.Encoding != EncodingKind.Legacy) return false;
        for (int i = 0; i < op.OpCount; i++)
            if (OperandBytes(op.GetOpKind(i)) == 0 && !IsImmediate(op.GetOpKind(i)) && op.GetOpKind(i) != OpCodeOperandKind.mem)
                return false;
        return true;
    }

    private static int OperandBytes(OpCodeOperandKind k) => k switch
    {
        OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.al or OpCodeOperandKind.cl => 1,
        OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.ax => 2,
        OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.eax => 4,
        OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.rax => 8,
        OpCodeOperandKind.mem_offs => -1,
        _ => 0,
    };

    private static bool IsImmediate(OpCodeOperandKind k) => k is OpCodeOperandKind.imm8 or OpCodeOperandKind.imm8sex16
        or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32
        or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm64 or OpCodeOperandKind.imm8_const_1;

    public static bool IsShift(Mnemonic m) => m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol
        or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd;

    public static Register RegisterFor(int n, int bytes, bool high = false) => bytes switch
    {
        1 when high => Register.AH + n,
        1 => n < 4 ? Register.AL + n : n < 8 ? Register.SPL + (n - 4) : Register.R8L + (n - 8),
        2 => Register.AX + n,
        4 => Register.EAX + n,
        _ => Register.RAX + n,
    };

    /// <summary>A case for <paramref name="code"/>; <paramref name="locked"/> forces a memory destination and a
    /// LOCK prefix.</summary>
    public DiffCase Generate(Code code, Random r, bool locked = false)
    {
        for (int attempt = 0; attempt < 200; attempt++)
            if (TryGenerate(code, r, locked) is { } c) return c;
        throw new InvalidOperationException($"could not generate a valid case for {code}");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private DiffCase? TryGenerate(Code code, Random r, bool locked)
    {
        var op = code.ToOpCode();
        Mnemonic mnemonic = code.Mnemonic();
        var input = new CpuState { Rflags = EdgeValues.Flags(r) };
        for (int i = 0; i < 16; i++) input.Gpr[i] = EdgeValues.Register(r, 8 << r.Next(4));
        input.Gpr[4] = windowBase + WindowLayout.StackTop;
        var window = (byte[])_background.Clone();
        r.NextBytes(window.AsSpan(WindowLayout.StackTop - 64, 128)); // what POP/LEAVE/ENTER read

        int count = op.OpCount;
        var operands = new object[count];
        var locations = new Location?[count];
        var used = new HashSet<int> { 4 };
        int memoryIndex = -1;
        int opBytes = 0;
        for (int i = 0; i < count; i++)
        {
            OpCodeOperandKind kind = op.GetOpKind(i);
            int bytes = OperandBytes(kind);
            if (bytes > 0 && opBytes == 0) opBytes = bytes;
            bool memory = kind == OpCodeOperandKind.mem || kind == OpCodeOperandKind.mem_offs
                          || (kind is OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem
                              or OpCodeOperandKind.r64_or_mem && (r.Next(2) == 0 || (locked && i == 0)));
            if (memory) { memoryIndex = i; continue; }
            if (IsImmediate(kind)) { operands[i] = Immediate(kind, mnemonic, r, opBytes); continue; }
            int n;
            bool high = false;
            if (kind is OpCodeOperandKind.al or OpCodeOperandKind.ax or OpCodeOperandKind.eax or OpCodeOperandKind.rax) n = 0;
            else if (kind == OpCodeOperandKind.cl) n = 1;
            else
            {
                do n = r.Next(16); while (n == 4);
                high = bytes == 1 && n < 4 && r.Next(4) == 0;
            }
            used.Add(n);
            operands[i] = RegisterFor(n, bytes, high);
            locations[i] = Location.Reg(n, bytes, high);
        }

        int memOffset = 0;
        if (memoryIndex >= 0)
        {
            bool bitOffsetForm = mnemonic is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc && locations.Length > 1 && locations[1] is not null;
            memOffset = WindowLayout.MemoryCenter + (bitOffsetForm ? r.Next(-64, 64) : r.Next(-2048, 2048));
            if (mnemonic == Mnemonic.Cmpxchg16b) memOffset &= ~15;
            operands[memoryIndex] = MemoryOperandFor(op.GetOpKind(memoryIndex), windowBase + (ulong)memOffset, used, input, r);
        }

        Instruction instruction;
        try { instruction = Create(code, operands); }
        catch (ArgumentException) { return null; }
        if (locked) instruction.HasLockPrefix = true;

        if (memoryIndex >= 0)
        {
            int bytes = instruction.MemorySize.GetSize();
            var loc = Location.Mem(memOffset, bytes);
            locations[memoryIndex] = loc;
            if (bytes <= 8) loc.Set(input, window, EdgeValues.Of(r, bytes * 8));
            if (opBytes <= 0) opBytes = bytes;
        }

        var c = new DiffCase { Instruction = instruction, Code = [], Input = input, Window = window };
        if (!CaseFixups.Apply(c, mnemonic, locations, opBytes, r)) return null;

        var writer = new CodeBytes();
        var encoder = Encoder.Create(64, writer);
        if (!encoder.TryEncode(c.Instruction, 0x1000, out _, out _)) return null;
        var final = new DiffCase
        {
            Instruction = c.Instruction, Code = writer.Bytes.ToArray(), Input = input, Window = window,
            UndefinedFlags = UndefinedFlags.For(c.Instruction, mnemonic, locations, opBytes, input, window),
            UndefinedRegister = c.UndefinedRegister,
        };
        if (mnemonic is Mnemonic.Bsf or Mnemonic.Bsr && locations[1]!.Value.Get(input, window) == 0)
            final.UndefinedRegister = locations[0]!.Value.Register;
        return final;
    }

    private static object Immediate(OpCodeOperandKind kind, Mnemonic mnemonic, Random r, int opBytes)
    {
        if (kind == OpCodeOperandKind.imm8_const_1) return 1;
        if (IsShift(mnemonic) && kind == OpCodeOperandKind.imm8) return (int)CaseFixups.Count(mnemonic, r, opBytes * 8);
        // ENTER probes the final RSP (natively too): the frame must stay inside the private stack.
        if (mnemonic == Mnemonic.Enter)
            return kind == OpCodeOperandKind.imm16 ? (r.Next(4) == 0 ? 0 : r.Next(1024)) : r.Next(3) == 0 ? r.Next(32) : r.Next(3);
        return kind switch
        {
            OpCodeOperandKind.imm8 => (int)EdgeValues.Of(r, 8),
            OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 => (int)(sbyte)EdgeValues.Of(r, 8),
            OpCodeOperandKind.imm16 => (int)EdgeValues.Of(r, 16),
            OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 => (int)EdgeValues.Of(r, 32),
            _ => EdgeValues.Of(r, 64),
        };
    }

    /// <summary>A memory operand addressing <paramref name="address"/>: [abs], [base+disp], [base+index*scale+disp]
    /// or [index*scale+disp32], with the registers set so the sum is right.</summary>
    private static MemoryOperand MemoryOperandFor(OpCodeOperandKind kind, ulong address, HashSet<int> used, CpuState s, Random r)
    {
        if (kind == OpCodeOperandKind.mem_offs) return new MemoryOperand(Register.None, Register.None, 1, (long)address, 8);
        int form = r.Next(10);
        if (form == 0) return new MemoryOperand(Register.None, Register.None, 1, (long)address, 4);
        var free = AddressPool.Where(n => !used.Contains(n)).ToArray();
        int baseReg = free[r.Next(free.Length)];
        long disp = r.Next(3) switch { 0 => 0, 1 => r.Next(-128, 128), _ => r.Next(-1 << 20, 1 << 20) };
        int dispSize = disp == 0 ? 0 : disp is >= -128 and < 128 ? 1 : 4;
        if (form <= 3)
        {
            s.Gpr[baseReg] = address - (ulong)disp;
            used.Add(baseReg);
            return new MemoryOperand(Register.RAX + baseReg, Register.None, 1, disp, dispSize);
        }
        var indexFree = free.Where(n => n != baseReg).ToArray();
        int indexReg = indexFree[r.Next(indexFree.Length)];
        int scale = 1 << r.Next(4);
        long index = r.Next(-64, 64);
        s.Gpr[indexReg] = (ulong)index;
        used.Add(indexReg);
        if (form == 4)
            return new MemoryOperand(Register.None, Register.RAX + indexReg, scale, (long)address - index * scale, 4);
        s.Gpr[baseReg] = address - (ulong)(index * scale) - (ulong)disp;
        used.Add(baseReg);
        return new MemoryOperand(Register.RAX + baseReg, Register.RAX + indexReg, scale, disp, dispSize);
    }

    public static Instruction Create(Code code, object[] ops) => ops switch
    {
        [] => Instruction.Create(code),
        [Register a] => Instruction.Create(code, a),
        [MemoryOperand a] => Instruction.Create(code, a),
        [int a] => Instruction.Create(code, a),
        [Register a, Register b] => Instruction.Create(code, a, b),
        [Register a, MemoryOperand b] => Instruction.Create(code, a, b),
        [MemoryOperand a, Register b] => Instruction.Create(code, a, b),
        [Register a, int b] => Instruction.Create(code, a, b),
        [Register a, ulong b] => Instruction.Create(code, a, b),
        [MemoryOperand a, int b] => Instruction.Create(code, a, b),
        [int a, int b] => Instruction.Create(code, a, b),
        [Register a, Register b, int c] => Instruction.Create(code, a, b, c),
        [Register a, MemoryOperand b, int c] => Instruction.Create(code, a, b, c),
        [MemoryOperand a, Register b, int c] => Instruction.Create(code, a, b, c),
        [Register a, Register b, Register c] => Instruction.Create(code, a, b, c),
        [MemoryOperand a, Register b, Register c] => Instruction.Create(code, a, b, c),
        _ => throw new NotSupportedException($"{code}: operands {string.Join(", ", ops.Select(o => o.GetType().Name))}"),
    };

    private sealed class CodeBytes : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
