namespace Vessel.Hypervisor;

public static class RflagsBits
{
    public const ulong Cf = 1, Reserved1 = 1 << 1, Pf = 1 << 2, Af = 1 << 4, Zf = 1 << 6, Sf = 1 << 7;
    public const ulong Tf = 1 << 8, If = 1 << 9, Df = 1 << 10, Of = 1 << 11, Iopl = 3 << 12, Nt = 1 << 14;
    public const ulong Rf = 1 << 16, Vm = 1 << 17, Ac = 1 << 18, Vif = 1 << 19, Vip = 1 << 20, Id = 1 << 21;
    public const ulong Arithmetic = Cf | Pf | Af | Zf | Sf | Of;
}
