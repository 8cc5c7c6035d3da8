"""What every driver's command line and entry point share: the arguments scripts/bench.sh passes
to all of them, and `run`, which turns a failure into a message and SIGTERM into a clean-up."""

import signal
import sys

from harness import HarnessError


def add_common_arguments(parser, name, edgectl_required=False):
    """The arguments scripts/bench.sh gives every driver."""
    parser.add_argument("--agent", required=True, help="the edge-agent binary")
    parser.add_argument("--edgectl", required=edgectl_required, help="the edgectl binary (to validate the documents)")
    parser.add_argument("--runtime-dir", required=True, help="the folder holding python/edge_runtime.py")
    parser.add_argument("--python", help="the interpreter of Python functions; absent: skip them")
    parser.add_argument("--python-note", default="", help="why Python is skipped, when it is")
    parser.add_argument("--workdir", required=True, help="a folder every user can traverse (mode 0755)")
    parser.add_argument("--out", required=True, help="where to write the figures (JSON)")
    parser.add_argument("--revision", default="unknown", help="the git revision the agent was built from")
    parser.add_argument("--command", default=("bash scripts/bench.sh " + name).strip(), help="how this run was started")


def run(main, title):
    """Runs `main()` and exits with its code. A HarnessError (BenchError included) is printed as
    "TITLE failed: …" without a traceback (exit 1); SIGTERM and Ctrl-C exit through the drivers'
    `finally` blocks, which stop what was started."""
    def stopped(number, frame):
        print("%s stopped by signal %d: cleaning up" % (title, number), file=sys.stderr, flush=True)
        sys.exit(128 + number)  # SystemExit: the `finally` blocks stop what was started
    signal.signal(signal.SIGTERM, stopped)
    try:
        sys.exit(main())
    except HarnessError as error:
        print("%s failed: %s" % (title, error), file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("%s interrupted" % title, file=sys.stderr)
        sys.exit(130)
