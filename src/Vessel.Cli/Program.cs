using Vessel.Cli;

return VesselCli.Run(args, Console.OpenStandardInput(), Console.OpenStandardOutput(), Console.OpenStandardError(),
    CliHost.ForCurrentProcess());
