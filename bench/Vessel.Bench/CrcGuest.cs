using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>The CPU-bound guest workload: bitwise CRC-32 over a buffer, repeated. The same routine is
/// emitted for the in-process measurement and for the multiboot image that QEMU and `vessel run` boot.</summary>
internal static class CrcGuest
{
    public const uint BufferAddress = 0x300000;
    public const int BufferBytes = 64 * 1024;

    /// <summary>Emits: fill buffer with a pattern, then CRC it <paramref name="rounds"/> times; result in EAX.</summary>
    public static void EmitWorkload(Assembler a, int rounds, bool is64)
    {
        var fill = a.CreateLabel();
        var round = a.CreateLabel();
        var bytes = a.CreateLabel();
        var bits = a.CreateLabel();
        var noXor = a.CreateLabel();
        var ptr = is64 ? (AssemblerRegister32)esi : esi;
        // fill: buffer[i] = (byte)(i * 7 + 3)
        a.mov(edi, BufferAddress);
        a.xor(ecx, ecx);
        a.Label(ref fill);
        a.lea(eax, __dword_ptr[ecx + ecx * 2]);
        a.lea(eax, __dword_ptr[eax + ecx * 4 + 3]);
        if (is64) a.mov(__byte_ptr[rdi + rcx], al); else a.mov(__byte_ptr[edi + ecx], al);
        a.inc(ecx);
        a.cmp(ecx, BufferBytes);
        a.jb(fill);

        a.mov(edx, 0xFFFF_FFFF);
        a.mov(ebp, (uint)rounds);
        a.Label(ref round);
        a.mov(ptr, BufferAddress);
        a.mov(ecx, BufferBytes);
        a.Label(ref bytes);
        if (is64) a.movzx(eax, __byte_ptr[rsi]); else a.movzx(eax, __byte_ptr[esi]);
        a.xor(edx, eax);
        a.mov(ebx, 8);
        a.Label(ref bits);
        a.shr(edx, 1);
        a.jnc(noXor);
        a.xor(edx, 0xEDB88320);
        a.Label(ref noXor);
        a.dec(ebx);
        a.jnz(bits);
        a.inc(esi);
        a.dec(ecx);
        a.jnz(bytes);
        a.dec(ebp);
        a.jnz(round);
        a.mov(eax, edx);
        a.not(eax);
    }

    /// <summary>The same CRC computed on the host, to check the guest's answer.</summary>
    public static uint Expected(int rounds)
    {
        uint crc = 0xFFFF_FFFF;
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < BufferBytes; i++)
            {
                crc ^= (byte)(i * 7 + 3);
                for (int b = 0; b < 8; b++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        return ~crc;
    }
}
