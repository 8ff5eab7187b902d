"""The one exception type for problems a user can cause and fix, and how entry points report it."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class TaggerError(Exception):
    """A user-fixable problem (bad data, config or storage); its message names the problem and the fix.

    Entry points print it as one line instead of a traceback.
    """


@contextmanager
def reported() -> Iterator[None]:
    """Around an entry point: a TaggerError ends in one line on stderr; a closed stdout (``| head -1``) ends
    the command quietly, as it does for other Unix tools."""
    try:
        yield
    except TaggerError as err:
        sys.exit(f"tagger: error: {err}")
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        sys.exit(1)
