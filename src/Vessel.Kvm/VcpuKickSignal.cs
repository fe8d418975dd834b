namespace Vessel.Kvm;

/// <summary>The real-time signal that knocks a vCPU thread out of KVM_RUN. Its handler is a single RET
/// instruction in an executable page (no managed code runs in signal context), installed without
/// SA_RESTART so the blocked ioctl returns EINTR. Installed once per process.</summary>
internal static unsafe class VcpuKickSignal
{
    /// <summary>SIGRTMIN+8 as glibc numbers it (SIGRTMIN is 34; the .NET runtime uses SIGRTMIN itself).</summary>
    public const int Number = 42;

    private static readonly Lock InstallLock = new();
    private static bool _installed;

    public static void EnsureInstalled()
    {
        lock (InstallLock)
        {
            if (_installed) return;
            nint page = KvmNative.Mmap(0, 4096, KvmNative.ProtRead | KvmNative.ProtWrite, KvmNative.MapPrivate | KvmNative.MapAnonymous, -1, 0);
            if (page == KvmNative.MapFailed)
                throw new KvmException($"cannot map the vCPU kick handler: {KvmNative.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
            *(byte*)page = 0xC3; // ret
            if (KvmNative.Mprotect(page, 4096, KvmNative.ProtRead | KvmNative.ProtExec) != 0)
                throw new KvmException($"cannot make the vCPU kick handler executable: {KvmNative.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
            SigActionStruct action = default;
            action.Handler = page;
            action.Flags = 0;
            if (KvmNative.SigAction(Number, &action, null) != 0)
                throw new KvmException($"cannot install the vCPU kick signal handler: {KvmNative.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
            _installed = true;
        }
    }
}
