"""--workers N: N copies of the tune command as worker processes on one study."""

import os
import signal
import subprocess
import sys
import threading
import time
from typing import TextIO

from tagger.errors import TaggerError
from tagger.tune.interrupt import StopRequest
from tagger.tune.options import TuneOptions


def launch_workers(opts: TuneOptions, argv: list[str], stop: StopRequest) -> None:
    """Start opts.workers worker processes on the same study, and wait for them. Each SIGINT of this process (a
    terminal's Ctrl-C, or `kill -INT` of it alone) is passed on to every worker, once (they have a process group of
    their own): each fails its running trial and stops."""
    threads = opts.threads or max(1, (os.cpu_count() or 1) // opts.workers)
    command = [sys.executable, "-m", "tagger.tune", *argv, "--workers", "1", "--role", "worker"]
    command += ["--parent-pid", str(os.getpid()), "--threads", str(threads)]
    workers: list[subprocess.Popen] = []
    stop.relay_to(workers)  # before they start: a Ctrl-C while they start reaches those started
    for k in range(1, opts.workers + 1):
        workers.append(subprocess.Popen([*command, "--worker-number", str(k)], process_group=0))
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        codes = [w.wait() for w in workers]
        raise
    if any(codes) and not stop.requested:
        raise TaggerError(f"worker exit codes {codes}; see their messages above")


class Labelled:
    """A text stream whose every line starts with a worker's label, so interleaved lines tell whose they are
    (a worker writes to its own terminal: no pipe that a killed main process would break)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label, self.at_line_start = stream, label, True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            self.stream.write(self.label + piece if self.at_line_start else piece)
            self.at_line_start = piece.endswith("\n")
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def label_output(number: int) -> None:
    sys.stdout, sys.stderr = Labelled(sys.stdout, f"[worker {number}] "), Labelled(sys.stderr, f"[worker {number}] ")


def die_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """A worker stops once the process that started it is gone, even when that one was killed with SIGKILL
    and could not stop its workers: no orphan goes on training for nobody. It stops as on Ctrl-C (SIGINT),
    between two batches, so nothing it writes is cut off: its trial is failed and queued for a retry, which
    the next run resumes; that run also closes the runs left open."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
