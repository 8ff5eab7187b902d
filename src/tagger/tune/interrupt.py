"""Ctrl-C (SIGINT) and SIGTERM (`kill`, a scheduler's stop or preemption), in one place: the first ends the running
trial at the next batch and lets the study write its outputs, so a rerun resumes; a second interrupts at once."""

import signal
import subprocess
import sys


class TrialInterrupted(Exception):
    """Ctrl-C during a trial. An Exception, not a KeyboardInterrupt: Lightning answers the latter with
    sys.exit, and Optuna then leaves the trial RUNNING; this way Optuna records it as FAILED."""


SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The SIGINT and SIGTERM handler while a study runs; callable: has the user asked to stop? Each signal is
    passed on to the processes relayed to (--workers), so that one sent to this process alone stops them too.
    During a fit Lightning adds its own SIGTERM handler before this one: it ends the fit with SIGTERMException (a
    SystemExit), which the trial reads as an interrupt."""

    def __init__(self) -> None:
        self.requested = False
        self._relayed: list[subprocess.Popen] = []

    def __call__(self) -> bool:
        return self.requested

    def relay_to(self, processes: list[subprocess.Popen]) -> None:
        """Pass every SIGINT on to these processes (the list as it grows): they need a process group of their own,
        else a terminal's Ctrl-C reaches them twice, and a second Ctrl-C stops at once."""
        self._relayed = processes

    def _handle(self, signum, frame) -> None:
        for process in self._relayed:
            if process.poll() is None:
                process.send_signal(signum)
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        again = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"stopping at the next batch ({again} again to stop at once) ...", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequest":
        self._previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def is_interrupt(err: BaseException | None) -> bool:
    """A trial ended by Ctrl-C: ours, or a second Ctrl-C that Lightning turned into SystemExit."""
    return isinstance(err, TrialInterrupted | KeyboardInterrupt | SystemExit)
