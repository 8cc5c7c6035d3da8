"""Starting and ending the processes the harness runs (mosquitto, edge-agent)."""

import os
import signal
import subprocess


def launch(args, log_path, header, pids_file=None, env=None):
    """Starts `args` with stdout and stderr appended to `log_path` (after the line `header`) and
    stdin from /dev/null. With `pids_file` (a benchmark's, which scripts/bench.sh reads to kill
    what a killed driver left), the pid is appended there and the process gets a session of its
    own, so that a Ctrl-C reaches only the driver, which then stops it in order. `env`: variables
    added to this process's environment for it."""
    with open(log_path, "ab") as log:
        log.write(header.encode() + b"\n")
        log.flush()
        proc = subprocess.Popen([str(a) for a in args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=pids_file is not None,
                                env=None if env is None else {**os.environ, **env})
    if pids_file is not None:
        with open(pids_file, "a") as f:
            f.write("%d\n" % proc.pid)
    return proc


class LoggedProcess:
    """What a process the harness runs with its log says of itself (a broker, a cluster node):
    `proc` (a Popen, or None before the first start), `log_path`, and `missing_log`, the text
    log_text() gives before there is a log."""

    proc = None
    missing_log = "(no log yet)"

    @property
    def pid(self):
        return self.proc.pid

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return self.missing_log


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def kill_group_quietly(pid):
    """SIGKILL to the process group `pid` leads (a function runs in a session of its own), or to
    `pid` alone when it leads none."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        kill_quietly(pid)
