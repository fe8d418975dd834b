namespace Vessel.Cpu;

internal enum AccessKind { Read, Write, Execute }
