"""--workers N: N copies of the tune command as worker processes on one study."""

import os
import signal
import subprocess
import sys
import threading
import time

from tagger.errors import TaggerError
from tagger.tune.interrupt import StopRequest
from tagger.tune.options import TuneOptions


def launch_workers(opts: TuneOptions, argv: list[str], stop: StopRequest) -> None:
    """Start opts.workers worker processes on the same study, and wait for them.

    Ctrl-C reaches every worker (one process group): each fails its running trial and stops.
    """
    threads = opts.threads or max(1, (os.cpu_count() or 1) // opts.workers)
    command = [sys.executable, "-m", "tagger.tune", *argv, "--workers", "1", "--role", "worker"]
    command += ["--parent-pid", str(os.getpid())]
    command += ["--threads", str(threads)]
    workers = [subprocess.Popen(command) for _ in range(opts.workers)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        codes = [w.wait() for w in workers]
        raise
    if any(codes) and not stop.requested:
        raise TaggerError(f"worker exit codes {codes}; see their messages above")


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
