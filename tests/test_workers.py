"""--workers: a worker process outlives no main process (the whole worker pool: integration/test_scale_out.py)."""

import contextlib
import os
import signal
import subprocess
import sys
import time

# A worker in miniature: it watches its parent as tune's workers do, says it is running, then waits for a stop.
WORKER = """
import os, sys, time
from tagger.tune.workers import die_with_parent
die_with_parent(os.getppid(), interval=0.05)
print(os.getpid(), flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print("stopped as on Ctrl-C", flush=True)
"""


def test_a_worker_whose_main_process_is_killed_stops_as_on_ctrl_c(tmp_path):
    """A SIGKILLed main process relays nothing: the worker notices that its parent is gone and sends itself the
    SIGINT of a Ctrl-C, which fails its running trial (queued for a retry) and stops it, as a relayed Ctrl-C does."""
    log = tmp_path / "worker.log"
    main = subprocess.Popen(  # the main process: it starts the worker and waits for it
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {WORKER!r}])"],
        stdout=log.open("w"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not log.read_text().strip():
        time.sleep(0.05)
    worker = int(log.read_text().split()[0])
    try:
        os.kill(main.pid, signal.SIGKILL)
        main.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "stopped" not in log.read_text():
            time.sleep(0.05)
        assert log.read_text().splitlines()[1:] == ["stopped as on Ctrl-C"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
