namespace Vessel.Boot.Tests;

/// <summary>Malformed images must fail with a <see cref="BootImageException"/> and nothing else.</summary>
public class HostileImageTests
{
    public static TheoryData<string> Images => ["multiboot-elf", "aout-kludge", "elf32", "elf64", "boot-sector"];

    private static byte[] Image(string name) => name switch
    {
        "multiboot-elf" => TestImages.MultibootElf(),
        "aout-kludge" => TestImages.AoutKludge(),
        "elf32" => new ElfBuilder(false) { Entry = 0x100000 }.Add(0x100000, TestImages.Code(64)).Add(0x300000, [1], 0x100).Build(),
        "elf64" => new ElfBuilder(true) { Entry = 0x100000 }.Add(0x100000, TestImages.Code(64)).Add(0x300000, [1], 0x100).Build(),
        _ => TestImages.BootSector(),
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void RandomlyCorruptedImagesOnlyEverFailWithBootImageException(string name)
    {
        using var ram = new GuestRam();
        byte[] original = Image(name);
        var random = new Random(name.Length * 7919);
        var options = new BootOptions { Initrd = new byte[100] };
        for (int round = 0; round < 3000; round++)
        {
            byte[] image = (byte[])original.Clone();
            int corruptions = random.Next(1, 6);
            for (int i = 0; i < corruptions; i++)
            {
                int at = random.Next(image.Length);
                image[at] = random.Next(3) switch { 0 => 0xFF, 1 => 0, _ => (byte)random.Next(256) };
            }
            if (random.Next(4) == 0) image = image[..random.Next(image.Length)];
            try
            {
                ram.Load(image, random.Next(2) == 0 ? options : null);
            }
            catch (BootImageException)
            {
            }
        }
    }

    [Fact]
    public void EveryTruncationOfEveryImageFailsCleanly()
    {
        using var ram = new GuestRam();
        foreach (string name in new[] { "multiboot-elf", "aout-kludge", "elf32", "elf64", "boot-sector" })
        {
            byte[] image = Image(name);
            for (int length = 0; length < image.Length; length++)
            {
                try { ram.Load(image[..length]); }
                catch (BootImageException) { }
            }
        }
    }
}
