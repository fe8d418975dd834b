using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Vessel.Cpu.Tests")]
