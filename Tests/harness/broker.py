"""A real Mosquitto on a free loopback port."""

import socket
import subprocess
import time
from pathlib import Path

from .ports import free_port
from .processes import LoggedProcess, launch
from .waits import WAIT, HarnessError, poll_until


class Broker(LoggedProcess):
    """A real mosquitto on 127.0.0.1, restartable on the same port; its configuration and log in
    `workdir`. `tls`: dict(ca=, cert=, key=, require_certificate=bool), or None. `settings`: more
    lines of mosquitto.conf (LOAD_SETTINGS for a benchmark). `pids_file`: see processes.launch.
    `users`: {name: password}: only they may connect (a mosquitto_passwd file), no anonymous client."""

    # A benchmark's broker: no Nagle delay on its sockets (small publishes would wait for a delayed
    # ACK, up to 40 ms, and round trips would measure that), and room for the backlog of a burst.
    LOAD_SETTINGS = ("set_tcp_nodelay true", "max_queued_messages 100000")

    missing_log = "(no broker log)"

    def __init__(self, workdir, port=None, tls=None, settings=(), pids_file=None, users=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.settings = list(settings)
        self.pids_file = pids_file
        self.proc = None
        self.log_path = self.workdir / "mosquitto.log"
        self.conf_path = self.workdir / "mosquitto.conf"
        self.starts = 0
        self.users = dict(users or {})

    def _config(self):
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous %s" % ("false" if self.users else "true"),
            "persistence false",
            "user root",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.tls:
            lines += [
                "cafile %s" % self.tls["ca"],
                "certfile %s" % self.tls["cert"],
                "keyfile %s" % self.tls["key"],
                "require_certificate %s" % ("true" if self.tls.get("require_certificate") else "false"),
                "use_identity_as_username %s" % ("true" if self.tls.get("require_certificate") else "false"),
                "tls_version tlsv1.2",
            ]
        if self.users:
            lines.append("password_file %s" % self._password_file())
        return "\n".join(lines + self.settings) + "\n"

    def _password_file(self):
        path = self.workdir / "passwords"
        path.write_text("")
        for name, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(path), name, password], check=True, capture_output=True, timeout=30)
        return path

    def start(self, timeout=10.0):
        """Starts mosquitto and waits until it accepts connections; returns self."""
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.conf_path.write_text(self._config())
        self.starts += 1
        self.proc = launch(["mosquitto", "-c", self.conf_path], self.log_path,
                           "=== start %d on port %d" % (self.starts, self.port), self.pids_file)
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            if self.proc.poll() is not None:
                raise HarnessError("mosquitto exited with code %s at start; its log:\n%s"
                                   % (self.proc.returncode, self.log_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError as error:
                last_error = error
            if time.monotonic() >= deadline:
                self.stop()
                raise HarnessError("mosquitto did not accept connections on 127.0.0.1:%d within %.0f s "
                                   "(last error: %s); its log:\n%s" % (self.port, timeout, last_error, self.log_text()))
            time.sleep(0.02)  # bounded retry loop on the port, with the deadline above

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


    def wait_log(self, text, count=1, timeout=WAIT, what=None):
        return poll_until(lambda: self.log_text().count(text) >= count, timeout,
                          what or "%r in the broker's log" % text)
