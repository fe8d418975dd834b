using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The VM's executable arena: W^X views of one memory file, chunks reused, and everything unmapped when the
/// VM ends.</summary>
public class ExecutableArenaTests
{
    [Fact]
    public void Code_placed_in_the_arena_runs_from_its_executable_view()
    {
        using var arena = new ExecutableArena(1 << 20);
        // mov eax, 42; ret
        byte[] code = [0xB8, 42, 0, 0, 0, 0xC3];
        Assert.True(arena.TryPlace(code, out CodeChunk chunk));
        unsafe
        {
            var f = (delegate* unmanaged<int>)arena.EntryOf(chunk);
            Assert.Equal(42, f());
        }
        Assert.Equal(ExecutableArena.SmallestChunk, chunk.Bytes);
    }

    [Fact]
    public void The_executable_view_is_never_writable_and_the_writable_view_never_executable()
    {
        using var arena = new ExecutableArena(1 << 20);
        Assert.True(arena.TryPlace(new byte[] { 0xC3 }, out CodeChunk chunk));
        string? permissions = MappingPermissions((ulong)arena.EntryOf(chunk));
        Assert.Equal("r-xs", permissions);
        int writableViews = File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("vessel-native-code") && l.Contains("rw-s"));
        int writableAndExecutable = File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("vessel-native-code") && l.Contains("wx"));
        Assert.True(writableViews >= 1);
        Assert.Equal(0, writableAndExecutable);
    }

    [Fact]
    public void A_freed_chunk_is_reused_and_a_full_arena_says_so()
    {
        using var arena = new ExecutableArena(1 << 20);
        Assert.True(arena.TryPlace(new byte[300], out CodeChunk first));
        arena.Free(first);
        Assert.True(arena.TryPlace(new byte[400], out CodeChunk again));
        Assert.Equal(first.Offset, again.Offset);
        Assert.Equal(1, arena.LiveChunks);
        int placed = 0;
        while (arena.TryPlace(new byte[60_000], out _)) placed++;
        Assert.Equal((int)(arena.CapacityBytes / 65536) - 1, placed);
        Assert.False(arena.TryPlace(new byte[70_000], out _)); // bigger than the largest chunk
    }

    [Fact]
    public void The_VMs_native_code_is_unmapped_when_the_VM_is_disposed()
    {
        var g = new PagedGuest(NativeTierTests.NativeOptions);
        VcpuExit exit = g.Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 1000);
            a.Label(ref top);
            a.add(rax, rcx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        ExecutableArena arena = ((EmuVirtualMachine)g.Guest.Guest.Vm).Machine.NativeCode;
        Assert.True(arena.LiveChunks > 0);
        Assert.True(arena.TryPlace(new byte[] { 0xC3 }, out CodeChunk probe));
        ulong address = (ulong)arena.EntryOf(probe);
        Assert.Equal("r-xs", MappingPermissions(address));

        g.Dispose();

        Assert.True(arena.IsDisposed);
        Assert.Null(MappingPermissions(address));
    }

    /// <summary>The permissions /proc/self/maps shows for the mapping holding <paramref name="address"/>, or null.</summary>
    private static string? MappingPermissions(ulong address)
    {
        foreach (string line in File.ReadAllLines("/proc/self/maps"))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] range = parts[0].Split('-');
            ulong start = Convert.ToUInt64(range[0], 16), end = Convert.ToUInt64(range[1], 16);
            if (address >= start && address < end) return parts[1];
        }
        return null;
    }
}
