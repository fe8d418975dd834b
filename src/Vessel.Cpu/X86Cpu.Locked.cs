using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>LOCK-prefixed instructions: only read-modify-writes of memory may carry LOCK (else #UD);
/// they run under the VM's atomic lock so they are atomic with respect to each other across vCPUs.</summary>
internal sealed partial class X86Cpu
{
    private void ExecuteLocked(ref Instruction ins)
    {
        bool lockable = ins.Mnemonic switch
        {
            Mnemonic.Add or Mnemonic.Adc or Mnemonic.Sub or Mnemonic.Sbb or Mnemonic.And or Mnemonic.Or
                or Mnemonic.Xor or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Neg or Mnemonic.Not
                or Mnemonic.Xchg or Mnemonic.Xadd or Mnemonic.Cmpxchg or Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b
                or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc => true,
            _ => false,
        };
        if (!lockable || ins.Op0Kind != OpKind.Memory) FaultNoCode(Vector.UD);
        lock (_vm.AtomicLock) ExecuteUnlocked(ref ins);
    }
}
