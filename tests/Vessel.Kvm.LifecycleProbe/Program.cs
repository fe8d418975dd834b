using Vessel.Kvm;
using Vessel.Kvm.LifecycleProbe;

// vessel-kvm-lifecycle [MACHINES]: runs KvmLifecycleCheck on this machine's /dev/kvm and prints
// "lifecycle: ..." lines, the last one PASS or FAIL; exits 0 when it passed, 1 when not, 2 without KVM.
int machines = 100;
if (args.Length > 0 && (!int.TryParse(args[0], out machines) || machines < 1))
{
    Console.Error.WriteLine($"usage: vessel-kvm-lifecycle [MACHINES]  (a positive count, not \"{args[0]}\")");
    return 2;
}
try
{
    var report = KvmLifecycleCheck.Run(machines);
    Console.WriteLine($"lifecycle: {machines} kvm machines of {KvmLifecycleCheck.GuestBytes >> 20} MiB, {2 * KvmLifecycleCheck.RefusedMachines} refused; peak rss {report.PeakRss >> 20}MiB");
    Console.WriteLine($"lifecycle: baseline {report.Baseline}");
    Console.WriteLine($"lifecycle: after    {report.After}");
    foreach (var failure in report.Failures) Console.WriteLine($"lifecycle: {failure}");
    Console.WriteLine(report.Passed ? "lifecycle: PASS" : "lifecycle: FAIL");
    return report.Passed ? 0 : 1;
}
catch (KvmUnavailableException ex)
{
    Console.WriteLine($"lifecycle: no KVM: {ex.Message}");
    return 2;
}
catch (Exception ex) when (ex is InvalidOperationException or KvmException)
{
    Console.WriteLine($"lifecycle: FAIL: {ex.Message}");
    return 1;
}
