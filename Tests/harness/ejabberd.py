"""A real ejabberd with mod_mqtt on a free loopback port, all its state in a work directory."""

import time
from pathlib import Path

from .erlang import end_process
from .ports import free_port
from .processes import LoggedProcess, launch
from .readiness import round_trip, wait_accepted
from .waits import HarnessError

EJABBERD_LIBS = Path("/usr/lib/x86_64-linux-gnu")  # Debian's ERL_LIBS for ejabberd (as ejabberdctl sets it)

# After the application started: register the MQTT user (idempotent: a restart answers exists).
REGISTER = ('io:format("harness: register ~s@~s: ~p~n", [os:getenv("HARNESS_USER"), os:getenv("HARNESS_DOMAIN"), '
            'ejabberd_auth:try_register(unicode:characters_to_binary(os:getenv("HARNESS_USER")), '
            'unicode:characters_to_binary(os:getenv("HARNESS_DOMAIN")), '
            'unicode:characters_to_binary(os:getenv("HARNESS_PASSWORD")))]).')


class Ejabberd(LoggedProcess):
    """ejabberd (Debian's 23.01) with mod_mqtt on 127.0.0.1:`port` and no other listener,
    restartable on the same port. It runs as a plain VM in the foreground (`erl -s ejabberd`, as
    `ejabberdctl foreground` would, but without its su to the ejabberd user and /etc/ejabberd),
    not distributed: no node name, epmd or distribution port at all. Its ejabberd.yml, Mnesia
    (users, retained messages), HOME and logs are in `workdir`. The user `username`@`domain`
    with `password` is registered (internal auth, SCRAM) after each start; `username` is the
    local part, without @.

    Measured (23.01): start to ready 2.2-4.4 s (first boot), 1.7 s at a restart; stop 1.1 s.
    MQTT 5 and 3.1.1; 3.1 (MQIsdp) is refused with CONNACK 1.
    Auth: the MQTT username may be `user` (the listener's domain) or `user@domain`; an anonymous
    CONNECT or a wrong password gets CONNACK 5 (3.1.1) or reason 0x87 Not authorized (5); a
    user of another domain 0x88 Server unavailable (3 under 3.1.1).
    QoS 0, 1 and 2; last will works; retained messages reach wildcard subscribers (a/#, a/+/c).
    Topics starting with $: a PUBLISH to one is dropped: under MQTT 5 its PUBACK says 0x90 Topic
    name invalid ("Publishing to this topic is forbidden by service policy"), under 3.1.1 the
    PUBACK is a plain success; the connection stays open either way. A subscription to a $
    filter is granted but receives nothing. Under MQTT 5, a QoS 1 PUBLISH that no subscription
    matches is acknowledged with reason 0x10 No matching subscribers (a success code).
    `pids_file`: see processes.launch."""

    missing_log = "(no ejabberd log)"

    def __init__(self, workdir, username="edge", password="edge-password", domain="localhost", pids_file=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.domain = domain
        self.pids_file = pids_file
        self.port = free_port()
        self.proc = None
        self.log_path = self.workdir / "ejabberd.log"
        self.conf_path = self.workdir / "ejabberd.yml"
        self.spool = self.workdir / "spool"
        self.starts = 0
        self.start_seconds = None

    def _config(self):
        return "\n".join([
            "loglevel: info",
            "hosts:",
            "  - %s" % self.domain,
            "auth_method: internal",
            "auth_password_format: scram",
            "acme:",
            "  auto: false",
            "listen:",
            "  -",
            "    port: %d" % self.port,
            "    ip: \"127.0.0.1\"",
            "    module: mod_mqtt",
            "    backlog: 128",
            "modules:",
            "  mod_mqtt: {}",
        ]) + "\n"

    def _env(self):
        return {
            "HOME": str(self.workdir),
            "ERL_LIBS": str(EJABBERD_LIBS),
            "EJABBERD_CONFIG_PATH": str(self.conf_path),
            "EJABBERD_LOG_PATH": str(self.workdir / "logs" / "ejabberd.log"),
            "CONTRIB_MODULES_PATH": str(self.workdir / "modules"),
            "CONTRIB_MODULES_CONF_DIR": str(self.workdir / "modules" / "conf"),
            "ERL_CRASH_DUMP_BYTES": "0",
            "HARNESS_USER": self.username,
            "HARNESS_DOMAIN": self.domain,
            "HARNESS_PASSWORD": self.password,
        }

    def start(self, timeout=30.0):
        """Starts ejabberd and waits until a QoS 1 message makes a round trip; returns self."""
        assert not self.running, "ejabberd already running"
        if not list(EJABBERD_LIBS.glob("ejabberd-*")):
            raise HarnessError("ejabberd not found in %s: apt-get install ejabberd" % EJABBERD_LIBS)
        began = time.monotonic()
        self.conf_path.write_text(self._config())
        self.spool.mkdir(exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.starts += 1
        self.proc = launch(["erl", "-noinput", "+K", "true", "-mnesia", "dir", '"%s"' % self.spool,
                            "-s", "ejabberd", "-eval", REGISTER],
                           self.log_path, "=== start %d on port %d" % (self.starts, self.port), self.pids_file,
                           env=self._env())
        try:
            wait_accepted(self.port, self.username, self.password, timeout - (time.monotonic() - began),
                          lambda: self.proc.poll() is None, "ejabberd", self.log_text)
            round_trip(self.port, self.port, self.username, self.password)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, timeout=15.0):
        end_process(self.proc, timeout)

