using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The VM's executable arena: one executable view of a memory file written through the file, chunks
/// reused, and everything unmapped when the VM ends.</summary>
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
    public void The_arena_is_mapped_once_and_never_writable()
    {
        using var arena = new ExecutableArena(1 << 20);
        Assert.True(arena.TryPlace(new byte[] { 0xC3 }, out CodeChunk chunk));
        Assert.Equal("r-xs", MappingPermissions((ulong)arena.EntryOf(chunk)));
        // Other arenas of other tests may be mapped in this process too: count the views of this one's file,
        // found by the inode of the mapping holding its code.
        string inode = File.ReadAllLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Single(p => InRange(p[0], (ulong)arena.EntryOf(chunk)))[4];
        string[] views = [.. File.ReadAllLines("/proc/self/maps").Where(l => l.Contains("vessel-native-code")
            && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4] == inode)];
        Assert.Single(views);
        Assert.Contains("r-xs", views[0]);
    }

    [Fact]
    public void Bytes_placed_across_pages_read_back_through_the_executable_view()
    {
        using var arena = new ExecutableArena(1 << 20);
        Assert.True(arena.TryPlace(new byte[300], out _)); // the next chunk of another class starts off page 0
        var code = new byte[10_000];
        new Random(7).NextBytes(code);
        Assert.True(arena.TryPlace(code, out CodeChunk chunk));
        unsafe
        {
            Assert.Equal(code, new ReadOnlySpan<byte>((byte*)arena.EntryOf(chunk), code.Length).ToArray());
        }
    }

    [Fact]
    public void A_patched_displacement_changes_what_the_placed_code_does()
    {
        using var arena = new ExecutableArena(1 << 20);
        // jmp rel32 (0 at first: falls through); mov eax, 1; ret; mov eax, 2; ret
        byte[] code = [0xE9, 0, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xC3, 0xB8, 2, 0, 0, 0, 0xC3];
        Assert.True(arena.TryPlace(code, out CodeChunk chunk));
        unsafe
        {
            var f = (delegate* unmanaged<int>)arena.EntryOf(chunk);
            Assert.Equal(1, f());
            arena.PatchInt32(chunk, 1, 6); // to the second mov, 6 bytes past the jump's end
            Assert.Equal(2, f());
            arena.PatchInt32(chunk, 1, 0);
            Assert.Equal(1, f());
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.PatchInt32(chunk, chunk.Bytes - 3, 0));
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

    private static bool InRange(string range, ulong address)
    {
        string[] bounds = range.Split('-');
        return address >= Convert.ToUInt64(bounds[0], 16) && address < Convert.ToUInt64(bounds[1], 16);
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
