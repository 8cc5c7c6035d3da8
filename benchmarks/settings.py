"""The drivers' settings, from environment variables (BENCH_QUICK=1 picks the short run's
defaults), and BenchError, the failure a driver prints without a traceback."""

import os

from harness import HarnessError

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


class BenchError(HarnessError):
    """A failure with a message that says what went wrong; printed without a traceback, like the
    harness's own errors (HarnessError) that a driver lets through."""


def read_setting(settings, name):
    """A setting from the environment, or its full or quick default from `settings`
    (name: (full, quick, meaning)), as a number."""
    full, quick, _ = settings[name]
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return quick if QUICK else full
    try:
        value = float(raw)
    except ValueError:
        raise BenchError("%s=%r is not a number" % (name, raw))
    if value < 0:
        raise BenchError("%s=%r must not be negative" % (name, raw))
    return int(value) if value == int(value) else value
