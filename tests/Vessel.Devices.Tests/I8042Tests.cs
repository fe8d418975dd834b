using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class I8042Tests
{
    private readonly RecordingSystemControl _system = new();
    private readonly RecordingInterruptLine _keyboardIrq = new();
    private readonly RecordingInterruptLine _auxIrq = new();
    private readonly I8042 _controller;

    public I8042Tests() => _controller = new I8042(_system, _keyboardIrq, _auxIrq);

    private byte Status() => (byte)_controller.CommandPort.Read(0, 1);
    private byte ReadData() => (byte)_controller.DataPort.Read(0, 1);
    private void Command(byte command) => _controller.CommandPort.Write(0, 1, command);
    private void WriteData(byte value) => _controller.DataPort.Write(0, 1, value);

    /// <summary>What i8042_command does for a command with results: wait for OBF, then read.</summary>
    private byte ReadResult()
    {
        Assert.True((Status() & I8042.StatusOutputFull) != 0, "output buffer should be full");
        return ReadData();
    }

    [Fact]
    public void SelfTestAnswers55AndSetsTheSystemFlag()
    {
        Assert.Equal(0, Status() & I8042.StatusOutputFull);
        Command(0xAA);
        Assert.Equal(0x55, ReadResult());
        Assert.Equal(0, Status() & I8042.StatusOutputFull);
        Assert.NotEqual(0, Status() & I8042.StatusSystemFlag);
    }

    [Fact]
    public void CommandByteReadAndWrite()
    {
        Command(0x20);
        Assert.Equal(0x47, ReadResult());       // kbd+aux interrupts, system flag, translation
        Command(0x60);
        WriteData(0x30);
        Command(0x20);
        Assert.Equal(0x30, ReadResult());
        Assert.Equal(0, Status() & I8042.StatusSystemFlag);
    }

    [Fact]
    public void InterfaceTestsReportNoError()
    {
        Command(0xAB);
        Assert.Equal(0x00, ReadResult());
        Command(0xA9);
        Assert.Equal(0x00, ReadResult());
    }

    [Fact]
    public void DisableAndEnablePortsToggleCommandByteBits()
    {
        // The bit-assignment test of Linux's i8042_check_aux, then the same for the keyboard port.
        Command(0xA7);
        Command(0x20);
        Assert.NotEqual(0, ReadResult() & I8042.ConfigAuxDisabled);
        Command(0xA8);
        Command(0x20);
        Assert.Equal(0, ReadResult() & I8042.ConfigAuxDisabled);
        Command(0xAD);
        Command(0x20);
        Assert.NotEqual(0, ReadResult() & I8042.ConfigKeyboardDisabled);
        Command(0xAE);
        Command(0x20);
        Assert.Equal(0, ReadResult() & I8042.ConfigKeyboardDisabled);
    }

    [Fact]
    public void OutputPortReadWriteControlsA20AndReset()
    {
        Command(0xD0);
        Assert.Equal(0x03, ReadResult());
        Assert.True(_controller.A20Enabled);
        Command(0xD1);
        WriteData(0x01);
        Assert.False(_controller.A20Enabled);
        Assert.Equal(0, _system.ResetRequests);
        Command(0xD1);
        WriteData(0x02);                        // bit 0 low: CPU reset asserted
        Assert.Equal(1, _system.ResetRequests);
    }

    [Fact]
    public void PulsingResetLineRequestsReset()
    {
        Command(0xFF);                          // pulse nothing
        Assert.Equal(0, _system.ResetRequests);
        Command(0xFE);
        Assert.Equal(1, _system.ResetRequests);
    }

    [Fact]
    public void WriteToKeyboardAndAuxOutputBuffers()
    {
        Command(0xD2);
        WriteData(0x1C);
        Assert.True(_keyboardIrq.Level);
        Assert.Equal(I8042.StatusOutputFull, Status() & (I8042.StatusOutputFull | I8042.StatusAuxData));
        Assert.Equal(0x1C, ReadData());
        Assert.False(_keyboardIrq.Level);

        Command(0xD3);                          // AUX loop, as Linux's i8042_check_aux sends 0x5a
        WriteData(0x5A);
        Assert.True(_auxIrq.Level);
        Assert.False(_keyboardIrq.Level);
        Assert.NotEqual(0, Status() & I8042.StatusAuxData);
        Assert.Equal(0x5A, ReadData());
        Assert.False(_auxIrq.Level);
    }

    [Fact]
    public void InterruptsFollowTheCommandByteEnables()
    {
        Command(0x60);
        WriteData(0x44);                        // interrupts off
        Command(0xD2);
        WriteData(0x01);
        Assert.False(_keyboardIrq.Level);
        Assert.Equal(0x01, ReadData());
    }

    [Fact]
    public void KeyboardIdentifyRepliesWithAnEdgePerByte()
    {
        WriteData(0xF2);
        Assert.Equal(0xFA, ReadResult());
        Assert.Equal(0xAB, ReadResult());
        Assert.Equal(0x83, ReadResult());
        Assert.Equal(0, Status() & I8042.StatusOutputFull);
        Assert.Equal([true, false, true, false, true, false], _keyboardIrq.Levels);
    }

    [Fact]
    public void KeyboardResetAndParameterCommands()
    {
        WriteData(0xFF);
        Assert.Equal(0xFA, ReadResult());
        Assert.Equal(0xAA, ReadResult());
        WriteData(0xED);                        // set LEDs
        Assert.Equal(0xFA, ReadResult());
        WriteData(0x07);
        Assert.Equal(0xFA, ReadResult());
        WriteData(0xF0);                        // get scancode set
        Assert.Equal(0xFA, ReadResult());
        WriteData(0x00);
        Assert.Equal(0xFA, ReadResult());
        Assert.Equal(0x02, ReadResult());
        WriteData(0xEE);
        Assert.Equal(0xEE, ReadResult());
        WriteData(0x12);                        // not a command
        Assert.Equal(0xFE, ReadResult());
    }

    private byte[] ReadAll()
    {
        var bytes = new List<byte>();
        while ((Status() & I8042.StatusOutputFull) != 0) bytes.Add(ReadData());
        return [.. bytes];
    }

    [Fact]
    public void CtrlAltDelArrivesAsTranslatedSet1KeysWithAnInterruptPerByte()
    {
        Assert.True(_controller.SendCtrlAltDel());
        Assert.True(_keyboardIrq.Level);
        Assert.Equal(new byte[] { 0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D }, ReadAll());
        Assert.False(_keyboardIrq.Level);
        Assert.Equal(16, _keyboardIrq.Levels.Count);   // a rising and a falling edge per byte
        Assert.Equal(0, _system.ResetRequests);
    }

    [Fact]
    public void CtrlAltDelWithoutTranslationFollowsTheKeyboardsScancodeSet()
    {
        Command(0x60);
        WriteData(0x07);                        // interrupts and system flag, no translation
        Assert.True(_controller.SendCtrlAltDel());
        Assert.Equal(new byte[] { 0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0, 0x71, 0xF0, 0x11, 0xF0, 0x14 }, ReadAll());
        WriteData(0xF0);                        // scancode set 3
        WriteData(0x03);
        Assert.Equal(new byte[] { 0xFA, 0xFA }, ReadAll());
        Assert.True(_controller.SendCtrlAltDel());
        Assert.Equal(new byte[] { 0x11, 0x19, 0x64, 0xF0, 0x64, 0xF0, 0x19, 0xF0, 0x11 }, ReadAll());
    }

    [Fact]
    public void CtrlAltDelIsRefusedWholeWhenTheKeyboardCannotTakeIt()
    {
        Command(0xAD);                          // keyboard interface disabled
        Assert.False(_controller.SendCtrlAltDel());
        Assert.Empty(ReadAll());
        Command(0xAE);
        WriteData(0xF5);                        // scanning disabled
        Assert.Equal(new byte[] { 0xFA }, ReadAll());
        Assert.False(_controller.SendCtrlAltDel());
        WriteData(0xF4);
        Assert.Equal(new byte[] { 0xFA }, ReadAll());
        Assert.True(_controller.SendCtrlAltDel());
        Assert.True(_controller.SendCtrlAltDel());    // 16 bytes: the buffer is full
        Assert.False(_controller.SendCtrlAltDel());   // no half sequence behind them
        Assert.Equal(16, ReadAll().Length);
    }

    [Fact]
    public void StatusTellsWhetherTheLastWriteWasACommand()
    {
        Command(0xAD);
        Assert.NotEqual(0, Status() & I8042.StatusLastWriteWasCommand);
        WriteData(0xF4);
        Assert.Equal(0, Status() & I8042.StatusLastWriteWasCommand);
        Assert.NotEqual(0, Status() & I8042.StatusUnlocked);
    }

    [Fact]
    public void HostileAccessesNeverThrowAndTheOutputQueueIsBounded()
    {
        Assert.Equal(0xFFFFu, _controller.DataPort.Read(0, 2));
        Assert.Equal(0xFFu, _controller.CommandPort.Read(1, 1));
        _controller.CommandPort.Write(0, 4, 0xFE);
        Assert.Equal(0, _system.ResetRequests);
        for (var i = 0; i < 1000; i++)
            Command(0x20);
        var drained = 0;
        while ((Status() & I8042.StatusOutputFull) != 0)
        {
            ReadData();
            drained++;
        }
        Assert.InRange(drained, 1, 16);
        var random = new Random(2);
        for (var i = 0; i < 20000; i++)
        {
            var port = random.Next(2) == 0 ? _controller.DataPort : _controller.CommandPort;
            var value = (uint)random.Next(0, 0xF0);     // stay clear of the reset pulses
            if (random.Next(2) == 0) port.Read((ushort)random.Next(0, 2), random.Next(0, 5));
            else port.Write((ushort)random.Next(0, 2), random.Next(0, 5), value);
        }
    }
}
