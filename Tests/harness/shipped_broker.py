"""The shipped broker: a real Mosquitto run with deploy/mosquitto.conf (devices on one listener,
client id = certificate CN; operators on another that trusts only the operators' CA) and its two
ACLs, with certificates made by the certs/ scripts. Only its ports (on 127.0.0.1), file paths and
run-as user are changed."""

import getpass
import socket
import subprocess

from .broker import Broker
from .layout import REPO
from .ports import free_port
from .waits import poll_until

CERTS = REPO / "certs"
DEPLOY = REPO / "deploy"


def _shipped_config(device_port, operator_port, pki, acl_dir, data_dir, takeover_guard=True):
    """deploy/mosquitto.conf with only its listener ports (on 127.0.0.1), its file paths and its
    run-as user changed; `takeover_guard=False` comments out use_username_as_clientid (the control)."""
    files = {
        "cafile /etc/mosquitto/certs/ca.crt": "cafile %s" % (pki / "ca.crt"),
        "cafile /etc/mosquitto/certs/operators-ca.crt": "cafile %s" % (pki / "operators-ca.crt"),
        "certfile /etc/mosquitto/certs/broker.crt": "certfile %s" % (pki / "localhost.crt"),
        "keyfile /etc/mosquitto/certs/broker.key": "keyfile %s" % (pki / "localhost.key"),
        "acl_file /etc/mosquitto/edge-agent.acl": "acl_file %s" % (acl_dir / "mosquitto.acl"),
        "acl_file /etc/mosquitto/edge-agent-operators.acl": "acl_file %s" % (acl_dir / "operators.acl"),
        "listener 8883": "listener %d 127.0.0.1" % device_port,
        "listener 8884": "listener %d 127.0.0.1" % operator_port,
    }
    lines = []
    used = set()
    for line in (DEPLOY / "mosquitto.conf").read_text().splitlines():
        words = " ".join(line.split())
        key = words.split(" ", 1)[0] if words else ""
        if words in files:
            lines.append(files[words])
            used.add(words)
        elif key in ("cafile", "certfile", "keyfile", "acl_file", "listener"):
            raise AssertionError("deploy/mosquitto.conf has a line this test does not know: %r" % line)
        elif key == "persistence_location":
            lines.append("persistence_location %s/" % data_dir)
        elif key in ("user", "pid_file"):
            continue
        elif words == "use_username_as_clientid true" and not takeover_guard:
            lines.append("# (control run) " + line)
        else:
            lines.append(line)
    assert used == set(files), "deploy/mosquitto.conf lost lines this test expects: %s" % sorted(set(files) - used)
    # As root, mosquitto would drop to user "mosquitto", who cannot read pytest's tmp_path.
    lines.append("user %s" % getpass.getuser())
    return "\n".join(lines) + "\n"


class ShippedBroker(Broker):
    """A real mosquitto with the shipped configuration: devices on `port`, operators on `operator_port`."""

    def __init__(self, workdir, pki, takeover_guard=True):
        super().__init__(workdir)
        self.operator_port = free_port()
        acl_dir = self.workdir / "acl"
        acl_dir.mkdir(exist_ok=True)
        for name in ("mosquitto.acl", "operators.acl"):
            (acl_dir / name).write_text((DEPLOY / name).read_text())
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        self._text = _shipped_config(self.port, self.operator_port, pki, acl_dir, data, takeover_guard)

    def _config(self):
        return self._text

    def start(self, timeout=10.0):
        """Starts mosquitto and waits until both listeners accept connections (it opens them one
        after the other); returns self."""
        super().start(timeout)

        def operator_listener_open():
            try:
                with socket.create_connection(("127.0.0.1", self.operator_port), timeout=0.5):
                    return True
            except OSError:
                return False
        poll_until(operator_listener_open, timeout, "the operator listener on 127.0.0.1:%d" % self.operator_port)
        return self


def make_certificates(directory, things):
    """The CAs, the broker's certificate (localhost, 127.0.0.1), one per thing and `operator`, made
    with the certs/ scripts."""
    out = str(directory)

    def run(script, *args):
        result = subprocess.run([str(CERTS / script), "--out", out, "--days", "2", *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, "%s failed: %s" % (script, result.stderr)

    run("make-ca.sh")
    run("make-broker-cert.sh", "localhost")
    for thing in things:
        run("make-device-cert.sh", "--", thing)
    run("make-operator-cert.sh", "operator")
    return directory


def tls_files(pki, who):
    return {"ca": str(pki / "ca.crt"), "cert": str(pki / ("%s.crt" % who)), "key": str(pki / ("%s.key" % who))}
