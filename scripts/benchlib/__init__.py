"""What the benchmark scripts share: the guest and VMM command lines (guest.py), a guest's serial console on a
pipe (console.py), and the /proc readings of a VMM process (proc.py)."""
