"""Ctrl-C, in one place: the first ends the running trial at the next batch and lets the study write its
outputs; a second interrupts at once."""

import signal
import sys
from typing import Any

import lightning.pytorch as L


class TrialInterrupted(Exception):
    """Ctrl-C during a trial. An Exception, not a KeyboardInterrupt: Lightning answers the latter with
    sys.exit, and Optuna then leaves the trial RUNNING; this way Optuna records it as FAILED."""


class StopRequest:
    """The SIGINT handler while a study runs; callable: has the user asked to stop?"""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
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
