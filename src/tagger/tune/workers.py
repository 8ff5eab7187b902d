"""--workers N: N copies of the tune command as worker processes on one study."""

import os
import subprocess
import sys

from tagger.errors import TaggerError
from tagger.tune.interrupt import StopRequest
from tagger.tune.options import TuneOptions


def launch_workers(opts: TuneOptions, argv: list[str], stop: StopRequest) -> None:
    """Start opts.workers worker processes on the same study, and wait for them.

    Ctrl-C reaches every worker (one process group): each fails its running trial and stops.
    """
    threads = opts.threads or max(1, (os.cpu_count() or 1) // opts.workers)
    command = [sys.executable, "-m", "tagger.tune", *argv, "--workers", "1", "--role", "worker"]
    command += ["--threads", str(threads)]
    workers = [subprocess.Popen(command) for _ in range(opts.workers)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        codes = [w.wait() for w in workers]
        raise
    if any(codes) and not stop.requested:
        raise TaggerError(f"worker exit codes {codes}; see their messages above")
