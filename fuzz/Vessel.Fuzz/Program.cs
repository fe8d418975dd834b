using SharpFuzz;
using Vessel.Fuzz;

// vessel-fuzz NAME                      one target under libfuzzer-dotnet (--target_arg=NAME), see README.md
// vessel-fuzz list                      the targets
// vessel-fuzz mutate NAME [CASES] [SEED]  the in-process seeded mutational run the tests do, without libFuzzer
// vessel-fuzz seeds NAME DIR            write the target's seed inputs to DIR (a starting corpus)
// vessel-fuzz replay NAME FILE...       run the target on saved inputs (a crash file from libFuzzer)
if (args.Length == 0)
    return Usage();

switch (args[0])
{
    case "list":
        foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name,-12} {t.Parses}");
        return 0;
    case "mutate" when args.Length >= 2 && FuzzTargets.Find(args[1]) is { } target:
    {
        int cases = args.Length > 2 ? int.Parse(args[2]) : 100_000;
        int seed = args.Length > 3 ? int.Parse(args[3]) : Environment.TickCount;
        Console.WriteLine($"{target.Name}: {cases} mutated cases from seed {seed}");
        try
        {
            MutationRun.Run(target, cases, seed);
        }
        catch (FuzzFinding finding)
        {
            string file = $"finding-{target.Name}-{seed}.bin";
            File.WriteAllBytes(file, finding.Input);
            Console.Error.WriteLine($"{finding.Message}\ninput saved to {file}\n{finding.InnerException}");
            return 1;
        }
        Console.WriteLine("no findings");
        return 0;
    }
    case "seeds" when args.Length == 3 && FuzzTargets.Find(args[1]) is { } target:
    {
        Directory.CreateDirectory(args[2]);
        var seeds = target.Seeds();
        for (int i = 0; i < seeds.Count; i++) File.WriteAllBytes(Path.Combine(args[2], $"seed-{i}"), seeds[i]);
        Console.WriteLine($"{seeds.Count} seeds written to {args[2]}");
        return 0;
    }
    case "replay" when args.Length >= 3 && FuzzTargets.Find(args[1]) is { } target:
        foreach (string file in args[2..])
        {
            target.Run(File.ReadAllBytes(file)); // a finding throws here, with its stack
            Console.WriteLine($"{file}: clean");
        }
        return 0;
    default:
        if (args.Length == 1 && FuzzTargets.Find(args[0]) is { } libFuzzerTarget)
        {
            Fuzzer.LibFuzzer.Run(span => libFuzzerTarget.Run(span));
            return 0;
        }
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: vessel-fuzz NAME | list | mutate NAME [CASES] [SEED] | seeds NAME DIR | replay NAME FILE...");
    Console.Error.WriteLine("targets: " + string.Join(", ", FuzzTargets.All.Select(t => t.Name)));
    return 2;
}
