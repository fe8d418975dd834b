using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Maps Iced's register enumeration onto general-register numbers, sizes and the AH-BH case,
/// computed once from Iced's own register metadata.</summary>
internal static class RegisterTable
{
    public static readonly byte[] GprIndex = new byte[256];
    public static readonly byte[] Size = new byte[256];
    public static readonly bool[] IsHigh8 = new bool[256];
    public static readonly sbyte[] SegmentIndex = new sbyte[256];

    static RegisterTable()
    {
        Array.Fill(SegmentIndex, (sbyte)-1);
        foreach (Register r in Enum.GetValues<Register>())
        {
            int i = (int)r;
            if (i >= 256) continue;
            if (r.IsGPR())
            {
                Size[i] = (byte)r.GetSize();
                if (r is Register.AH or Register.CH or Register.DH or Register.BH)
                {
                    IsHigh8[i] = true;
                    GprIndex[i] = (byte)(r - Register.AH);
                }
                else
                {
                    GprIndex[i] = (byte)(r.GetFullRegister() - Register.RAX);
                }
            }
            else if (r.IsSegmentRegister())
            {
                SegmentIndex[i] = (sbyte)(r - Register.ES);
                Size[i] = 2;
            }
        }
    }
}
