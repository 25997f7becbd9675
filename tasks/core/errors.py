"""What a retry can and cannot fix.

A PermanentError comes out the same however often it is retried: bad data, a bad setting, a refused source, a copy
that does not match. Tasks never retry one. Anything else (I/O, a full disk, a lock, the network) is taken for
transient and retried with backoff; see RETRIES in tasks/kit/steps.py.
"""


class PermanentError(Exception):
    """A failure no retry can fix; the base of every such error, so that the retry policy follows from the type."""
