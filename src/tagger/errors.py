"""The one exception type for problems a user can cause and fix."""


class TaggerError(Exception):
    """A user-fixable problem (bad data, config or storage); its message names the problem and the fix.

    Entry points print it as one line instead of a traceback.
    """
