"""A VMM process with the guest's serial console on a pipe."""
import os
import select
import subprocess
import time


class Console:
    """Starts cmd; wait_for reads the console until a pattern shows up, type writes to it."""

    def __init__(self, cmd, deadline, log=None):
        """deadline: time.monotonic() after which every wait fails. log: a binary file that gets every console byte
        and the VMM's stderr (else stderr is discarded)."""
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log or subprocess.DEVNULL)
        self.deadline = deadline
        self.log = log
        self.seen = b""

    def wait_for(self, pattern):
        """Waits for pattern (bytes or a compiled regex) in the output and consumes the output up to its end.
        Returns the match (True for bytes), or None on timeout or when the VMM exits."""
        regex = hasattr(pattern, "search")
        while time.monotonic() < self.deadline:
            if regex:
                found = pattern.search(self.seen)
                if found:
                    self.seen = self.seen[found.end():]
                    return found
            else:
                at = self.seen.find(pattern)
                if at >= 0:
                    self.seen = self.seen[at + len(pattern):]
                    return True
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not ready:
                if self.proc.poll() is not None:
                    return None
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            if self.log:
                self.log.write(chunk)
                self.log.flush()
            self.seen = (self.seen + chunk)[-65536:]
        return None

    def type(self, text):
        self.proc.stdin.write(text.encode() if isinstance(text, str) else text)
        self.proc.stdin.flush()

    def close(self):
        self.proc.kill()
        self.proc.wait()
