"""One run of the real edge-agent binary."""

import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

from .cgroups import cgroup_cpu_seconds, cgroup_dirs
from .layout import DEFAULT_AGENT_BIN, REPO, RUNTIME_DIR
from .processes import kill_group_quietly, kill_quietly, launch
from .procfs import children_of, process_alive, process_table
from .waits import WAIT, HarnessError, poll_until, tail


def agent_binary():
    """The edge-agent to test: $EDGE_AGENT_BIN, else what `swift build` produces."""
    path = Path(os.environ.get("EDGE_AGENT_BIN") or DEFAULT_AGENT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise HarnessError(
            "edge-agent binary not found at %s: run `swift build` first (from %s), "
            "or point EDGE_AGENT_BIN at a built edge-agent" % (path, REPO))
    return path


class Agent:
    """One run of the real edge-agent binary, connected to the broker on 127.0.0.1:`broker_port`
    (or `broker_host`), its output in `log_path`.

    `health_interval`: seconds (None: the agent's default); `log_level`; `cgroups`: the value of
    `--cgroups` (None: not given); `cgroup_root`: the agent's subtree (`--cgroup-root`, None: not
    given); `python`: `--python`; `groups`: `--thing-group`s; `extra_args` last. `name` is what
    messages call it (default: the thing); `pids_file`: see processes.launch; `env`: variables added
    to the agent's environment; `brokers`: "host:port" endpoints (`--broker`), instead of one."""

    def __init__(self, binary, thing, broker_port, state_dir, log_path, health_interval=2, extra_args=(),
                 broker_host="127.0.0.1", groups=(), runtime_dir=RUNTIME_DIR, log_level="debug", cgroups=None,
                 cgroup_root=None, python=None, name=None, pids_file=None, env=None, wrapper=(), brokers=None):
        self.thing = thing
        self.env = env
        self.name = name or thing
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_path)
        self.cgroup_root = cgroup_root
        self.pids_file = pids_file
        # `wrapper`: a command the agent runs under (`ip netns exec NS`, which execs it: same pid).
        if brokers:
            where = [arg for endpoint in brokers for arg in ("--broker", endpoint)]
        else:
            where = ["--broker-host", broker_host, "--broker-port", str(broker_port)]
        self.args = [str(a) for a in wrapper] + [str(binary), "--thing-name", thing] + where + [
                     "--state-dir", str(state_dir), "--runtime-dir", str(runtime_dir)]
        if health_interval is not None:
            self.args += ["--health-interval", str(health_interval)]
        self.args += ["--log-level", log_level]
        if cgroups is not None:
            self.args += ["--cgroups", cgroups]
        for group in groups:
            self.args += ["--thing-group", group]
        if cgroup_root is not None:
            self.args += ["--cgroup-root", cgroup_root]
        if python is not None:
            self.args += ["--python", str(python)]
        self.args += [str(a) for a in extra_args]
        self.proc = None
        self.known_children = set()

    def start(self):
        """Starts the agent (again, after a stop: same arguments, same state and log); returns self."""
        self.proc = launch(self.args, self.log_path, "=== %s" % " ".join(shlex.quote(a) for a in self.args),
                           self.pids_file, env=self.env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Raises, with the tail of its log, once the agent has exited: a wait given this as its
        `check` gives up at once instead of at its deadline."""
        if not self.alive():
            raise HarnessError("the agent %s exited with code %s; its log:\n%s"
                               % (self.name, self.proc.returncode if self.proc else None, tail(self.log_text())))

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no agent log)"

    def wait_log(self, pattern, timeout=WAIT, what=None, count=1):
        """Waits until `pattern` (a regex) matches at least `count` times in the agent's log."""
        regex = re.compile(pattern)

        def found():
            return len(regex.findall(self.log_text())) >= count
        try:
            return poll_until(found, timeout, what or "agent log line /%s/" % pattern)
        except HarnessError as error:
            raise HarnessError("%s\n--- agent log tail:\n%s" % (error, tail(self.log_text(), 40)))

    def children(self):
        """Its function processes now; remembered, so that cleanup can end what it leaves."""
        pids = children_of(self.proc.pid) if self.alive() else []
        self.known_children.update(pids)
        return pids

    def wait_exit(self, timeout=WAIT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("edge-agent (pid %d) did not exit within %.0f s" % (self.proc.pid, timeout))

    def stop(self, timeout=30.0):
        """SIGTERM, then wait; returns the exit code (the last one when it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise HarnessError("the agent %s did not exit within %.0f s of SIGTERM (killed)" % (self.name, timeout))

    def kill(self):
        """SIGKILL, then wait; remembers its function processes so cleanup can end them."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.children()
        self.proc.kill()
        self.proc.wait(10)

    def cleanup(self, stop_timeout=30.0):
        """Teardown: stop the agent if it still runs (SIGTERM, SIGKILL after `stop_timeout`; 0:
        SIGKILL at once) and end any function process it left behind, with what those started in
        their sessions. Its cgroups are not touched: see cgroups.remove_cgroup_tree."""
        try:
            if self.alive():
                if stop_timeout:
                    try:
                        self.stop(timeout=stop_timeout)
                    except HarnessError:
                        pass
                else:
                    self.kill()
        finally:
            for pid in self.known_children:
                if process_alive(pid):
                    kill_group_quietly(pid)  # functions run in a session of their own
            # What left the process group but not the session (setpgid) goes too.
            if self.known_children:
                for pid, fields in process_table().items():
                    if int(fields[3]) in self.known_children and pid != os.getpid():
                        kill_quietly(pid)

    # The agent's cgroup subtree (`cgroup_root`), for the benchmarks.

    def subtree_dirs(self):
        """The agent's cgroup subtree in every hierarchy that shows it (empty without one)."""
        return cgroup_dirs(self.cgroup_root) if self.cgroup_root else []

    def subtree_cpu_seconds(self):
        """CPU time of everything in the agent's cgroup subtree (its functions), in nanosecond
        precision; None without one. /proc ticks (10 ms) are too coarse for 10 small functions."""
        return cgroup_cpu_seconds(self.cgroup_root) if self.cgroup_root else None

    def instance_cgroups(self):
        """The cgroups of the function instances in the agent's subtree, in every hierarchy."""
        found = []
        for directory in self.subtree_dirs():
            found += [os.path.join(directory, d) for d in os.listdir(directory)
                      if os.path.isdir(os.path.join(directory, d))]
        return found
