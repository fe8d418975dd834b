using System.Text;
using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class Uart16550Tests
{
    private const ushort Rbr = 0, Thr = 0, Dll = 0, Ier = 1, Dlm = 1, Iir = 2, Fcr = 2, Lcr = 3, Mcr = 4, Lsr = 5,
        Msr = 6, Scr = 7;
    private const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoop = 0x10;
    private const byte IerRdi = 0x01, IerThri = 0x02, IerRlsi = 0x04, IerMsi = 0x08;

    private readonly RecordingInterruptLine _irq = new();
    private readonly List<byte> _sent = [];
    private readonly Uart16550 _uart;

    public Uart16550Tests() => _uart = new Uart16550(_irq, _sent.Add);

    private byte In(ushort offset) => (byte)_uart.Read(offset, 1);
    private void Out(ushort offset, byte value) => _uart.Write(offset, 1, value);

    [Fact]
    public void LinuxAutoconfigSequenceIdentifiesA16550A()
    {
        // Scratch test through IER: only the low four bits exist.
        Out(Ier, 0);
        Assert.Equal(0, In(Ier) & 0x0F);
        Out(Ier, 0x0F);
        Assert.Equal(0x0F, In(Ier) & 0x0F);
        Out(Ier, 0xFF);
        Assert.Equal(0x0F, In(Ier));
        Out(Ier, 0);

        // Loopback test: MCR = LOOP | OUT2 | RTS must read back as DCD | CTS in MSR.
        Out(Mcr, McrLoop | 0x0A);
        Assert.Equal(0x90, In(Msr) & 0xF0);
        Out(Mcr, 0);

        // FIFO test: IIR bits 7-6 are 11 only once the FIFOs are enabled; bit 5 (64-byte FIFO) stays clear.
        Out(Lcr, 0);
        Assert.Equal(0, In(Iir) & 0xC0);
        Out(Fcr, 0x01);
        Assert.Equal(0xC0, In(Iir) & 0xC0);
        Out(Fcr, 0x01 | 0x20);
        Assert.Equal(0, In(Iir) & 0x20);
    }

    [Fact]
    public void LoopbackMsrMirrorsModemControlOutputs()
    {
        Out(Mcr, McrLoop | McrDtr);
        Assert.Equal(0x20, In(Msr) & 0xF0);     // DTR -> DSR
        Out(Mcr, McrLoop | McrRts);
        Assert.Equal(0x10, In(Msr) & 0xF0);     // RTS -> CTS
        Out(Mcr, McrLoop | McrOut1);
        Assert.Equal(0x40, In(Msr) & 0xF0);     // OUT1 -> RI
        Out(Mcr, McrLoop | McrOut2);
        Assert.Equal(0x80, In(Msr) & 0xF0);     // OUT2 -> DCD
        Out(Mcr, McrLoop | 0x0F);
        Assert.Equal(0xF0, In(Msr) & 0xF0);
    }

    [Fact]
    public void MsrOutsideLoopbackReportsCarrierDsrCtsAndDeltasClearOnRead()
    {
        Assert.Equal(0xB0, In(Msr));
        Out(Mcr, McrLoop);                      // all inputs drop: DCTS, DDSR, DDCD
        Assert.Equal(0x0B, In(Msr));
        Assert.Equal(0x00, In(Msr));
        Out(Mcr, McrLoop | McrOut1);
        Out(Mcr, McrLoop);                      // RI trailing edge
        Assert.Equal(0x04, In(Msr));
    }

    [Fact]
    public void EnablingThreInterruptWithEmptyThrRaisesItAndReadingIirAcknowledges()
    {
        // serial8250_do_startup's THRE test, run twice as Linux does.
        Out(Ier, IerThri);
        Assert.Equal(0x02, In(Iir));
        Assert.Equal(0x01, In(Iir));            // acknowledged by the previous read
        Out(Ier, 0);
        Out(Ier, IerThri);
        Assert.Equal(0x02, In(Iir));
        Out(Ier, 0);
        Assert.Equal(0x01, In(Iir));
    }

    [Fact]
    public void WritingThrSendsTheByteAndThreIsPendingAgain()
    {
        Out(Ier, IerThri);
        Assert.Equal(0x02, In(Iir));
        Assert.Equal(0x01, In(Iir));
        foreach (var b in "ok\n"u8.ToArray())
            Out(Thr, b);
        Assert.Equal("ok\n", Encoding.ASCII.GetString(_sent.ToArray()));
        Assert.Equal(0x60, In(Lsr));            // THRE | TEMT, no data
        Assert.Equal(0x02, In(Iir));
    }

    [Fact]
    public void IrqLineFollowsInterruptConditionGatedByOut2()
    {
        Out(Ier, IerThri);
        Assert.False(_irq.Level);               // OUT2 low: the line is not connected to the PIC
        Out(Mcr, McrOut2 | McrRts | McrDtr);
        Assert.True(_irq.Level);
        In(Iir);
        Assert.False(_irq.Level);
        Out(Thr, (byte)'x');
        Assert.True(_irq.Level);
        Out(Ier, 0);
        Assert.False(_irq.Level);
    }

    [Fact]
    public void ReceivedBytesSetDataReadyAndRaiseReceivedDataInterrupt()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerRdi);
        _uart.Receive("hi"u8);
        Assert.True(_irq.Level);
        Assert.Equal(0x04, In(Iir));
        Assert.Equal(0x61, In(Lsr));
        Assert.Equal((byte)'h', In(Rbr));
        Assert.Equal((byte)'i', In(Rbr));
        Assert.Equal(0x60, In(Lsr));
        Assert.Equal(0x01, In(Iir));
        Assert.False(_irq.Level);
    }

    [Fact]
    public void FifoTriggerLevelSeparatesTimeoutFromDataAvailable()
    {
        Out(Fcr, 0xC1);                         // FIFO on, trigger at 14 bytes
        Out(Ier, IerRdi);
        _uart.Receive(new byte[3]);
        Assert.Equal(0xCC, In(Iir));            // below trigger: character timeout
        _uart.Receive(new byte[11]);
        Assert.Equal(0xC4, In(Iir));            // 14 bytes: received data available
        Out(Fcr, 0x41);                         // trigger at 4
        for (var i = 0; i < 11; i++) In(Rbr);
        Assert.Equal(0xCC, In(Iir));            // 3 left
    }

    [Fact]
    public void InputBeyondTheFifoWaitsOnTheHostSideAndArrivesInOrder()
    {
        Out(Fcr, 0x07);
        var data = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        _uart.Receive(data);
        Assert.Equal(40 - Uart16550.FifoSize, _uart.PendingInputCount);
        Assert.False(_uart.CanAcceptInput);
        var got = new List<byte>();
        while ((In(Lsr) & 0x01) != 0)
            got.Add(In(Rbr));
        Assert.Equal(data, got);
        Assert.Equal(0, _uart.PendingInputCount);
        Assert.True(_uart.CanAcceptInput);
    }

    /// <summary>A guest that never reads: the UART holds the FIFO and its host queue, takes no more, and says so;
    /// once the guest drains, the input-space callback fires and the rest is taken, in order.</summary>
    [Fact]
    public void HostInputIsBoundedAndTheDrainIsSignalled()
    {
        int signals = 0;
        var uart = new Uart16550(_irq, _sent.Add, () => signals++);
        uart.Write(Fcr, 1, 0x01);
        var data = Enumerable.Range(0, 5000).Select(i => (byte)(i * 31)).ToArray();
        int taken = uart.Receive(data);
        Assert.Equal(Uart16550.FifoSize + Uart16550.HostQueueSize, taken);
        Assert.Equal(0, uart.Receive(data.AsSpan(taken)));
        Assert.Equal(0, signals);
        var got = new List<byte>();
        got.Add((byte)uart.Read(Rbr, 1));
        Assert.Equal(1, signals);
        got.Add((byte)uart.Read(Rbr, 1));
        Assert.Equal(1, signals);                // once per refusal, not per byte
        while (taken < data.Length)
        {
            int n = uart.Receive(data.AsSpan(taken));
            taken += n;
            while ((uart.Read(Lsr, 1) & 0x01) != 0 && got.Count < taken) got.Add((byte)uart.Read(Rbr, 1));
        }
        while ((uart.Read(Lsr, 1) & 0x01) != 0) got.Add((byte)uart.Read(Rbr, 1));
        Assert.Equal(data, got);
    }

    [Fact]
    public void ABreakIsAZeroCharacterWithTheBreakBitAndALineStatusInterrupt()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerRlsi | IerRdi);
        _uart.ReceiveBreak();
        Assert.True(_irq.Level);
        Assert.Equal(0x06, In(Iir));            // line status first
        Assert.Equal(0x71, In(Lsr));            // DR | BI | THRE | TEMT
        Assert.Equal(0x61, In(Lsr));            // BI cleared by the read
        Assert.Equal(0x04, In(Iir));
        Assert.Equal(0, In(Rbr));
        Assert.False(_irq.Level);
    }

    [Fact]
    public void WithoutFifoTheReceiverHoldsOneByteAndNothingIsLost()
    {
        _uart.Receive("abc"u8);
        Assert.Equal(2, _uart.PendingInputCount);
        Assert.Equal((byte)'a', In(Rbr));
        Assert.Equal((byte)'b', In(Rbr));
        Assert.Equal((byte)'c', In(Rbr));
        Assert.Equal(0, In(Lsr) & 0x01);
        Assert.Equal(0, In(Lsr) & 0x02);
    }

    [Fact]
    public void FcrResetClearsTheReceiveFifo()
    {
        Out(Fcr, 0x01);
        _uart.Receive("hello"u8);
        Out(Fcr, 0x03);
        Assert.Equal(0x60, In(Lsr));
    }

    [Fact]
    public void LoopbackReturnsTransmittedBytesAndOverrunsWhenFull()
    {
        Out(Mcr, McrLoop | McrOut2);
        Out(Ier, IerRlsi | IerRdi);
        Out(Thr, (byte)'A');
        Assert.Empty(_sent);
        Assert.False(_irq.Level);               // OUT2 does not reach the PIC in loopback
        Assert.Equal(0x04, In(Iir));
        Out(Thr, (byte)'B');                    // no FIFO: the holding register is full
        Assert.Equal(0x06, In(Iir));            // line status has the highest priority
        Assert.Equal(0x63, In(Lsr));            // DR | OE | THRE | TEMT
        Assert.Equal(0x61, In(Lsr));            // OE cleared by reading LSR
        Assert.Equal((byte)'A', In(Rbr));
    }

    [Fact]
    public void HostInputWaitsWhileInLoopback()
    {
        Out(Mcr, McrLoop);
        _uart.Receive("z"u8);
        Assert.Equal(0, In(Lsr) & 0x01);
        Out(Mcr, 0);
        Assert.Equal((byte)'z', In(Rbr));
    }

    [Fact]
    public void DivisorLatchSharesOffsetsWithDataAndIer()
    {
        Out(Ier, 0x05);
        Out(Lcr, 0x83);
        Out(Dll, 0x01);
        Out(Dlm, 0x00);
        Assert.Equal(0x01, In(Dll));
        Assert.Equal(0x00, In(Dlm));
        Assert.Empty(_sent);
        Out(Lcr, 0x03);
        Assert.Equal(0x03, In(Lcr));
        Assert.Equal(0x05, In(Ier));
        Out(Scr, 0xA5);
        Assert.Equal(0xA5, In(Scr));
    }

    [Fact]
    public void ThreOutranksModemStatus()
    {
        Out(Mcr, McrLoop);
        Out(Ier, IerThri | IerMsi);
        Out(Mcr, McrLoop | McrRts);             // DCTS
        Assert.Equal(0x02, In(Iir));
        Assert.Equal(0x00, In(Iir));            // THRE acknowledged: modem status next
        In(Msr);
        Assert.Equal(0x01, In(Iir));
    }

    [Fact]
    public void HostileAccessesNeverThrow()
    {
        Assert.Equal(0xFFFFu, _uart.Read(0, 2));
        Assert.Equal(0xFFFF_FFFFu, _uart.Read(5, 4));
        Assert.Equal(0xFFu, _uart.Read(8, 1));
        _uart.Write(0, 2, 0x4141);
        Assert.Empty(_sent);
        var random = new Random(1);
        for (var i = 0; i < 20000; i++)
        {
            var offset = (ushort)random.Next(0, 10);
            var size = random.Next(0, 6);
            if (random.Next(2) == 0)
                _uart.Read(offset, size);
            else
                _uart.Write(offset, size, (uint)random.Next());
        }
    }

    [Fact]
    public async Task ConcurrentHostInputAndGuestReadsLoseNothing()
    {
        Out(Fcr, 0x01);
        var data = Enumerable.Range(0, 20000).Select(i => (byte)(i * 7)).ToArray();
        var feeder = Task.Run(() =>
        {
            for (var i = 0; i < data.Length;)
                i += _uart.Receive(data.AsSpan(i, Math.Min(100, data.Length - i)));
        });
        var got = new List<byte>(data.Length);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (got.Count < data.Length && DateTime.UtcNow < deadline)
        {
            if ((In(Lsr) & 0x01) != 0)
                got.Add(In(Rbr));
        }
        await feeder;
        Assert.Equal(data, got);
    }
}
