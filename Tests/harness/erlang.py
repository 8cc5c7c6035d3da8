"""The Erlang bits of the Erlang brokers: an epmd of one broker's own on a free loopback port,
unique node names, and ending a process (SIGTERM, then SIGKILL)."""

import socket
import subprocess
import time
from pathlib import Path

from .ports import free_port
from .processes import launch
from .topics import unique
from .waits import HarnessError


def node_name(prefix):
    """A node name no other run uses: `prefix`-<random>@localhost."""
    return "%s@localhost" % unique(prefix + "-")


def end_process(proc, timeout=15.0):
    """SIGTERM (an Erlang VM stops its applications in order), SIGKILL at `timeout`; waits."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class Epmd:
    """epmd, Erlang's port mapper, in the foreground on a free 127.0.0.1 port, started and ended by
    its broker. Nodes started with `env` (ERL_EPMD_PORT) register there and never reach the
    system's epmd on 4369 or one another run left, nor start a detached epmd that would outlive
    the test. Its log is `workdir`/epmd.log."""

    def __init__(self, workdir, pids_file=None):
        self.workdir = Path(workdir)
        self.pids_file = pids_file
        self.log_path = self.workdir / "epmd.log"
        self.proc = None
        self.port = None

    @property
    def env(self):
        return {"ERL_EPMD_PORT": str(self.port), "ERL_EPMD_ADDRESS": "127.0.0.1"}

    def start(self, timeout=10.0):
        """Starts epmd on a free port (another, should one be taken meanwhile) and waits until it
        accepts connections; returns self."""
        self.stop()
        deadline = time.monotonic() + timeout
        while True:
            self.port = free_port()
            self.proc = launch(["epmd", "-port", self.port, "-address", "127.0.0.1"], self.log_path,
                               "=== epmd on port %d" % self.port, self.pids_file)
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        if self.proc.poll() is None:
                            return self
                except OSError:
                    pass
                time.sleep(0.02)  # a bounded retry loop on the port, with the deadline above
            end_process(self.proc, 2.0)
            if time.monotonic() >= deadline:
                raise HarnessError("epmd did not listen on 127.0.0.1:%d within %.0f s; its log:\n%s"
                                   % (self.port, timeout, self.log_path.read_text(errors="replace")))

    def stop(self):
        end_process(self.proc, 5.0)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None
