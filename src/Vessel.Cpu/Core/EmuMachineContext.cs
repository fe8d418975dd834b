using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What the vCPUs of one emulated machine share, and all a vCPU sees of its machine: guest memory,
/// the decoded-code map and the code-cache budget, the in-backend platform devices and guest time, the lock of
/// LOCKed read-modify-writes, and the tuning. <see cref="EmuVirtualMachine"/> builds it; the CPU knows nothing
/// of the backend contract above it.</summary>
internal sealed class EmuMachineContext
{
    public EmuMachineContext(EmuOptions options)
    {
        Options = options;
        Platform = new EmuPlatform(Clock);
        CodeCache = new CodeCacheBudget(options.CodeCacheBytes, Code);
    }

    public EmuOptions Options { get; }
    public GuestMemory Memory { get; } = new();
    public CodePageMap Code { get; } = new();

    /// <summary>The host memory every vCPU's decoded and compiled code may take, together.</summary>
    public CodeCacheBudget CodeCache { get; }
    public EmuPlatform Platform { get; }

    /// <summary>Guest time: the TSC and every platform timer read it.</summary>
    public Platform.GuestClock Clock { get; } = new();

    /// <summary>Host memory for the native tier's code, made at its first use: a quarter of the code-cache budget's
    /// address space (its chunks are charged to <see cref="CodeCache"/> as they are handed out).</summary>
    public Native.ExecutableArena NativeCode
    {
        get
        {
            if (_nativeCode is { } arena) return arena;
            lock (Code)
                return _nativeCode ??= new Native.ExecutableArena(Math.Max(CodeCache.LimitBytes / 4, 1L << 20));
        }
    }

    private volatile Native.ExecutableArena? _nativeCode;

    /// <summary>Unmaps the native tier's code; no vCPU may be running then.</summary>
    public void ReleaseNativeCode() => _nativeCode?.Dispose();

    /// <summary>Serialises LOCK-prefixed read-modify-writes between vCPUs.</summary>
    public object AtomicLock { get; } = new();
}
