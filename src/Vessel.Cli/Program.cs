using Microsoft.Win32.SafeHandles;
using Vessel.Cli;
using Vessel.Cli.Console;

// The standard streams on their file descriptors, not System.Console's: its stdin stream on a terminal runs
// .NET's line editor (host echo, input only at Enter, signal keys back on), and the console must be raw.
using var stdout = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
using var stderr = new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write, bufferSize: 0);
return VesselCli.Run(args, new FdInputStream(0), stdout, stderr, CliHost.ForCurrentProcess());
