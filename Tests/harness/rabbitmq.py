"""A real RabbitMQ with its MQTT plugin on a free loopback port, all its state in a work directory."""

import os
import re
import subprocess
import time
from pathlib import Path

from .erlang import Epmd, end_process, node_name
from .ports import free_port
from .processes import LoggedProcess, launch
from .readiness import round_trip, wait_accepted
from .waits import HarnessError

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # Debian's; /usr/sbin's would su to rabbitmq
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")


class RabbitMQ(LoggedProcess):
    """rabbitmq-server (Debian's 3.10) with rabbitmq_mqtt on 127.0.0.1:`port`, AMQP and management
    off, restartable on the same port and node. Its node (rabbit-<random>@localhost), epmd (its
    own, on a free port), distribution port, configuration, Mnesia, Erlang cookie (HOME) and log
    are its own, in `workdir`. The MQTT user is `username`/`password` (created at the first boot
    as default_user, with all permissions on vhost /); with `allow_anonymous` a CONNECT without
    credentials is logged in as that user, else it is refused with CONNACK 4.

    Measured (3.10.8, one node): start to ready 13-15 s at a first boot, 20 s with two more
    brokers starting alongside, 7 s at a restart; 3-6 s of it the MQTT plugin waits for a Raft
    leader election of its cluster of one (not configurable). Stop 1.1 s.
    MQTT 3.1.1 and 3.1 only: an MQTT 5 CONNECT is logged as an unparseable frame and the
    connection is closed without a CONNACK (a paho v5 client reconnects in a loop).
    A wrong password, or no credentials without allow_anonymous: CONNACK 4. The username is the
    plain user name.
    QoS 0 and 1: a QoS 2 subscription is granted QoS 1, a QoS 2 PUBLISH is acknowledged and
    delivered at QoS 1. Last will works.
    Retained messages are kept (DETS, in the Mnesia dir) but are delivered only to a subscription
    whose filter is exactly the message's topic: a subscriber to a/# or a/+/c gets none.
    Topics starting with $ are ordinary topics: publishing to $aws/... succeeds, and a subscriber
    to # receives them too (the specification says # does not match $ topics).
    `pids_file`: see processes.launch."""

    missing_log = "(no rabbitmq log)"

    def __init__(self, workdir, username="edge", password="edge-password", allow_anonymous=False, pids_file=None):
        for value in (username, password):
            if not re.fullmatch(r"[\w.@-]+", value):  # written as they are in rabbitmq.conf
                raise ValueError("RabbitMQ's user and password here: letters, digits and . _ @ - only, not %r" % value)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.allow_anonymous = allow_anonymous
        self.pids_file = pids_file
        self.port = free_port()
        self.node = node_name("rabbit")
        self.epmd = Epmd(self.workdir, pids_file)
        self.proc = None
        self.log_path = self.workdir / "rabbitmq.log"
        self.conf_path = self.workdir / "rabbitmq.conf"
        self.plugins_path = self.workdir / "enabled_plugins"
        self.starts = 0
        self.start_seconds = None

    def _config(self):
        lines = [
            "listeners.tcp = none",
            "mqtt.listeners.tcp.default = 127.0.0.1:%d" % self.port,
            "mqtt.allow_anonymous = %s" % ("true" if self.allow_anonymous else "false"),
            "mqtt.default_user = %s" % self.username,
            "mqtt.default_pass = %s" % self.password,
            "default_user = %s" % self.username,
            "default_pass = %s" % self.password,
            "loopback_users = none",
            "log.console = true",
            "log.console.level = info",
            "log.file = false",
        ]
        return "\n".join(lines) + "\n"

    def _env(self):
        return {
            **self.epmd.env,
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),  # absent: not /etc's
            "RABBITMQ_CONFIG_FILE": str(self.conf_path),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.plugins_path),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_LOGS": "-",
            # The script then execs the VM itself (no shell in between) and the VM reads no input.
            "RABBITMQ_ALLOW_INPUT": "true",
            "RABBITMQ_SERVER_START_ARGS": "-noinput",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_CRASH_DUMP_BYTES": "0",
        }

    def start(self, timeout=60.0):
        """Starts epmd and RabbitMQ and waits until a QoS 1 message makes a round trip; returns self."""
        assert not self.running, "rabbitmq already running"
        if not SERVER.exists():
            raise HarnessError("%s not found: apt-get install rabbitmq-server" % SERVER)
        began = time.monotonic()
        self.conf_path.write_text(self._config())
        self.plugins_path.write_text("[rabbitmq_mqtt].\n")
        self.starts += 1
        self.epmd.start()
        try:
            self.proc = launch([SERVER], self.log_path, "=== start %d of %s on port %d"
                               % (self.starts, self.node, self.port), self.pids_file, env=self._env())
            wait_accepted(self.port, self.username, self.password, timeout - (time.monotonic() - began),
                          lambda: self.proc.poll() is None, "rabbitmq", self.log_text)
            round_trip(self.port, self.port, self.username, self.password)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def ctl(self, *args, timeout=60.0):
        """Runs rabbitmqctl against this node (its cookie, its epmd); returns its output, raises
        with it when it fails."""
        env = {k: v for k, v in self._env().items() if k != "RABBITMQ_DIST_PORT"}
        result = subprocess.run([str(CTL), "-n", self.node] + [str(a) for a in args], capture_output=True, text=True,
                                timeout=timeout, env={**os.environ, **env})
        if result.returncode != 0:
            raise HarnessError("rabbitmqctl %s failed (%d): %s%s" % (" ".join(args), result.returncode, result.stdout,
                                                                     result.stderr))
        return result.stdout

    def stop(self, timeout=15.0):
        end_process(self.proc, timeout)
        self.epmd.stop()


