using Vessel.Cli;
using Vessel.Cli.Console;

// The standard streams on their file descriptors, not System.Console's: its stdin stream on a terminal runs
// .NET's line editor (host echo, input only at Enter, signal keys back on), and the console must be raw.
return VesselCli.Run(args, new FdInputStream(0), new FdOutputStream(1), new FdOutputStream(2), CliHost.ForCurrentProcess());
