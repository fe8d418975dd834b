using System.Runtime.CompilerServices;

// The CPU tests drive internals (the interrupt-controller hook) that the backend contract does not expose.
[assembly: InternalsVisibleTo("Vessel.Cpu.Tests")]

// The translation benchmark drives the native translator alone.
[assembly: InternalsVisibleTo("Vessel.Bench")]
