using System.Diagnostics;
using System.Text;

namespace Vessel.Kvm.Tests;

/// <summary>Compiles a C program that prints the value of each C expression, against the system headers,
/// and returns the printed values by label. Fails (never skips) when gcc or &lt;linux/kvm.h&gt; is missing.</summary>
internal static class CProbe
{
    public const string KvmHeader = "/usr/include/linux/kvm.h";

    public static Dictionary<string, ulong> Evaluate(IEnumerable<(string Label, string Expression)> items, params string[] includes)
    {
        Assert.True(File.Exists(KvmHeader),
            $"{KvmHeader} is missing: install Debian's linux-libc-dev (the layout test compiles against it)");
        var source = new StringBuilder();
        foreach (var include in includes) source.Append("#include <").Append(include).Append(">\n");
        source.Append("#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n");
        foreach (var (label, expression) in items)
            source.Append($"  printf(\"%s %llu\\n\", \"{label}\", (unsigned long long)({expression}));\n");
        source.Append("  return 0;\n}\n");

        string dir = Path.Combine(Path.GetTempPath(), $"vessel-kvm-probe-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string c = Path.Combine(dir, "probe.c"), exe = Path.Combine(dir, "probe");
            File.WriteAllText(c, source.ToString());
            var (code, output, error) = Exec("gcc", "-std=gnu11", "-o", exe, c);
            Assert.True(code == 0, $"gcc failed ({code}):\n{error}");
            (code, output, error) = Exec(exe);
            Assert.True(code == 0, $"probe failed ({code}):\n{error}");
            var values = new Dictionary<string, ulong>();
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int space = line.LastIndexOf(' ');
                values[line[..space]] = ulong.Parse(line[(space + 1)..]);
            }
            return values;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int Code, string Output, string Error) Exec(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"cannot run {file}: {ex.Message} (the layout test needs gcc)");
            throw;
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout, stderr.Result);
        }
    }
}
