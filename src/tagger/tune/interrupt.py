"""Ctrl-C (SIGINT), in one place: the first ends the running trial at the next batch and lets the study write its
outputs; a second interrupts at once."""

import signal
import subprocess
import sys
from typing import Any

import lightning.pytorch as L


class TrialInterrupted(Exception):
    """Ctrl-C during a trial. An Exception, not a KeyboardInterrupt: Lightning answers the latter with
    sys.exit, and Optuna then leaves the trial RUNNING; this way Optuna records it as FAILED."""


class StopRequest:
    """The SIGINT handler while a study runs; callable: has the user asked to stop? Each SIGINT is passed on to
    the processes relayed to (--workers), so that one sent to this process alone stops them too."""

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
                process.send_signal(signal.SIGINT)
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("stopping at the next batch (Ctrl-C again to stop at once) ...", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequest":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


class StopOnRequest(L.Callback):
    """Ends the trial at the next batch once the user has asked the study to stop."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def _check(self, *args: Any) -> None:
        if self.stop.requested:
            raise TrialInterrupted("interrupted")

    on_train_batch_end = on_validation_batch_end = _check


def is_interrupt(err: BaseException | None) -> bool:
    """A trial ended by Ctrl-C: ours, or a second Ctrl-C that Lightning turned into SystemExit."""
    return isinstance(err, TrialInterrupted | KeyboardInterrupt | SystemExit)
