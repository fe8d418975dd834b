using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>Encodes a translated block's instruction list (what <see cref="NativeTranslator"/> built with Iced's
/// assembler) in one pass over it, in place of Iced's <c>BlockEncoder</c>, which was 70 % of a translation's time
/// (it encodes every instruction twice or more while it relaxes branches, and allocates an object for each).
/// <para>Every instruction but a branch to a label is encoded once, at offset 0: none of the translator's code is
/// RIP-relative, so its bytes do not depend on where it lands. Branches are then sized in one pass: a Jcc or JMP is
/// short when its target is within a rel8 even with every other branch near (the final layout only shrinks, so no
/// distance grows), near otherwise; JRCXZ has only the short form. Anything else (another branch form, a target
/// that is no label, a RIP-relative operand, a JRCXZ out of reach) is left to Iced's <c>BlockEncoder</c>: the
/// caller falls back to it when <see cref="TryEncode"/> says no.</para>
/// <para>One instance per thread (<see cref="ForThisThread"/>): its buffers are reused from block to block.</para></summary>
internal sealed class NativeBlockEncoder
{
    [ThreadStatic] private static NativeBlockEncoder? t_current;

    public static NativeBlockEncoder ForThisThread => t_current ??= new NativeBlockEncoder();

    private enum BranchForm : byte { None, Jcc, Jmp, ShortOnly }

    private const int JccNearBytes = 6, JmpNearBytes = 5, ShortBytes = 2;

    private readonly ByteCodeWriter _body = new(), _output = new();
    private readonly Encoder _bodyEncoder, _outputEncoder;

    // Per instruction: where its bytes are in _body, their length, its branch form and target, its final offset.
    private int[] _start = new int[512], _length = new int[512], _target = new int[512], _offset = new int[513];
    private BranchForm[] _form = new BranchForm[512];
    private bool[] _short = new bool[512];

    /// <summary>Label id → the index of the instruction it is on (-1: none).</summary>
    private int[] _labelIndex = new int[256];

    private NativeBlockEncoder()
    {
        _bodyEncoder = Encoder.Create(64, _body);
        _outputEncoder = Encoder.Create(64, _output);
    }

    /// <summary>The offset of instruction <paramref name="index"/> in the code the last successful
    /// <see cref="TryEncode"/> returned (where a label on it points).</summary>
    public int OffsetOf(int index) => _offset[index];

    /// <summary>Encodes <paramref name="instructions"/>, whose labels have ids below <paramref name="labelIdLimit"/>, at
    /// address 0; null when it cannot (see the class summary), for the caller to use Iced's block encoder.</summary>
    public byte[]? TryEncode(IReadOnlyList<Instruction> instructions, ulong labelIdLimit)
    {
        int count = instructions.Count;
        if (labelIdLimit <= int.MaxValue / 2)
        {
            Reserve(count, (int)labelIdLimit);
            if (EncodeBody(instructions, count, (int)labelIdLimit) && ResolveTargets(count))
            {
                Layout(count);
                if (Emit(instructions, count)) return _output.ToArray();
            }
        }
        Declined++;
        return null;
    }

    /// <summary>Blocks this thread's encoder left to Iced's block encoder (the translation benchmark reports it).</summary>
    public long Declined { get; private set; }

    private void Reserve(int count, int labelIdLimit)
    {
        if (_start.Length < count)
        {
            int size = Math.Max(count, _start.Length * 2);
            _start = new int[size];
            _length = new int[size];
            _target = new int[size];
            _offset = new int[size + 1];
            _form = new BranchForm[size];
            _short = new bool[size];
        }
        if (_labelIndex.Length < labelIdLimit) _labelIndex = new int[Math.Max(labelIdLimit, _labelIndex.Length * 2)];
        Array.Fill(_labelIndex, -1, 0, labelIdLimit);
    }

    /// <summary>Encodes every instruction but the branches into <see cref="_body"/>, and notes which instruction each
    /// label is on (the assembler puts a label's id in the IP of the instruction after it).</summary>
    private bool EncodeBody(IReadOnlyList<Instruction> instructions, int count, int labelIdLimit)
    {
        _body.Clear();
        for (int i = 0; i < count; i++)
        {
            Instruction ins = instructions[i];
            ulong label = ins.IP;
            if (label != 0)
            {
                if (label >= (ulong)labelIdLimit || _labelIndex[label] >= 0) return false;
                _labelIndex[label] = i;
            }
            BranchForm form = FormOf(ins.Code);
            _form[i] = form;
            if (form != BranchForm.None)
            {
                if (ins.Op0Kind != OpKind.NearBranch64 || ins.NearBranch64 >= (ulong)labelIdLimit) return false;
                _target[i] = (int)ins.NearBranch64;
                continue;
            }
            if (ins.IsIPRelativeMemoryOperand || ins.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64) return false;
            _start[i] = _body.Length;
            if (!_bodyEncoder.TryEncode(ins, 0, out uint length, out _)) return false;
            _length[i] = (int)length;
        }
        return true;
    }

    private static BranchForm FormOf(Code code) =>
        code.IsJccShortOrNear() ? BranchForm.Jcc
        : code.IsJmpShortOrNear() ? BranchForm.Jmp
        : code == Code.Jrcxz_rel8_64 ? BranchForm.ShortOnly
        : BranchForm.None;

    /// <summary>Label ids of the branches → instruction indexes.</summary>
    private bool ResolveTargets(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (_form[i] == BranchForm.None) continue;
            int target = _labelIndex[_target[i]];
            if (target < 0) return false;
            _target[i] = target;
        }
        return true;
    }

    /// <summary>Chooses each branch's size and sets every instruction's final offset.</summary>
    private void Layout(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _short[i] = _form[i] == BranchForm.ShortOnly;
            _length[i] = _form[i] switch
            {
                BranchForm.Jcc => JccNearBytes,
                BranchForm.Jmp => JmpNearBytes,
                BranchForm.ShortOnly => ShortBytes,
                _ => _length[i],
            };
        }
        SetOffsets(count);
        for (int i = 0; i < count; i++)
        {
            if (_form[i] is not (BranchForm.Jcc or BranchForm.Jmp)) continue;
            long distance = (long)_offset[_target[i]] - (_offset[i] + ShortBytes);
            if (distance != (sbyte)distance) continue;
            _short[i] = true;
            _length[i] = ShortBytes;
        }
        SetOffsets(count);
    }

    private void SetOffsets(int count)
    {
        int offset = 0;
        for (int i = 0; i < count; i++)
        {
            _offset[i] = offset;
            offset += _length[i];
        }
        _offset[count] = offset;
    }

    /// <summary>The final bytes: the body's, and the branches encoded at their offsets; false if a short-only branch
    /// does not reach or a length is not the one laid out.</summary>
    private bool Emit(IReadOnlyList<Instruction> instructions, int count)
    {
        _output.Clear();
        for (int i = 0; i < count; i++)
        {
            if (_form[i] == BranchForm.None)
            {
                _output.Append(_body, _start[i], _length[i]);
                continue;
            }
            Instruction branch = instructions[i];
            if (_short[i]) branch.ToShortBranch(); else branch.ToNearBranch();
            branch.NearBranch64 = (ulong)_offset[_target[i]];
            if (!_outputEncoder.TryEncode(branch, (ulong)_offset[i], out uint length, out _) || length != _length[i]) return false;
        }
        return _output.Length == _offset[count];
    }
}
