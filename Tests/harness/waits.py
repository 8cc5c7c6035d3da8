"""The harness's one failure and its one way of polling for a condition.

Synchronisation rule: nothing in the harness sleeps to let something happen. Every wait is on the
event itself (a message, a process exit, a file, a log line) with a deadline that fails with a
message naming what was awaited.
"""

import time

WAIT = 20.0  # default deadline for positive waits, generous for a loaded CI machine
QUIET = 2.0  # default bounded window for "nothing must arrive" checks


class HarnessError(AssertionError):
    """A wait that timed out, or something the harness could not start or find; the message says
    which, and what was awaited."""


def poll_until(condition, timeout, what, interval=0.02):
    """Polls `condition()` until it returns something truthy; fails naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)  # a bounded poll on a condition, not a synchronising sleep


def tail(text, lines=30):
    """The last `lines` lines of `text` (a log, for a failure message)."""
    return "\n".join(text.splitlines()[-lines:])
