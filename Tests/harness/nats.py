"""A real cluster of nats-server processes with JetStream and MQTT, on free loopback ports."""

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from .ports import free_port
from .processes import LoggedProcess, launch
from .readiness import round_trip, wait_accepted
from .waits import HarnessError, poll_until, tail

# What every node logs once it knows the JetStream meta leader (the leader says "Self is new ...").
META_LEADER = re.compile(r"JetStream cluster (new )?metadata leader")


class NatsNode(LoggedProcess):
    """One nats-server of a NatsCluster: its MQTT `port`, client port and route port are fixed for
    its life, so that it restarts as the same member; its configuration, JetStream store and log
    are in its own directory."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "n%d" % index
        self.dir = cluster.workdir / self.name
        self.port = free_port()
        self.client_port = free_port()
        self.route_port = free_port()
        self.proc = None
        self.log_path = self.dir / "nats.log"
        self.conf_path = self.dir / "nats.conf"
        self.starts = 0
        self.log_offset = 0

    def _config(self):
        c = self.cluster
        conf = {
            "server_name": self.name,
            "listen": "127.0.0.1:%d" % self.client_port,
            "jetstream": {"store_dir": str(self.dir / "jetstream"), "max_memory_store": 256 << 20,
                          "max_file_store": 1 << 30},
            # Replicas as many as nodes (up to 3): left to itself, a node creating the MQTT streams
            # counts the servers it knows then, and may make them R2 in a cluster of 3, which then
            # loses its quorum with one node down.
            # Consumers too: with NATS's default, an MQTT session's consumers may have no replica
            # beyond one node, and a client that moves on when that node dies is handed back its
            # session (SUBACKs at once) whose subscriptions deliver nothing (seen in 1 of 3 runs of
            # test_a_nats_node_killed_under_the_agent..., none in 5 with this).
            "mqtt": {"listen": "127.0.0.1:%d" % self.port, "stream_replicas": min(3, len(c.nodes)),
                     "consumer_replicas": min(3, len(c.nodes)), **c.mqtt_options},
        }
        if len(c.nodes) > 1:
            conf["cluster"] = {"name": c.name, "listen": "127.0.0.1:%d" % self.route_port,
                               "routes": ["nats-route://127.0.0.1:%d" % n.route_port for n in c.nodes if n is not self]}
        if c.username is not None:
            user = {"user": c.username, "password": c.password}
            if c.permissions:
                user["permissions"] = c.permissions
            conf["authorization"] = {"users": [user]}
        return json.dumps(conf, indent=1) + "\n"  # nats-server reads JSON as its configuration format

    def launch(self):
        """Starts this nats-server without waiting."""
        assert not self.running, "nats node %s already running" % self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self._config())
        self.starts += 1
        self.log_offset = len(self.log_text()) if self.log_path.exists() else 0
        self.proc = launch(["nats-server", "-c", self.conf_path], self.log_path,
                           "=== start %d of %s, MQTT on port %d" % (self.starts, self.name, self.port),
                           self.cluster.pids_file)

    def start(self, timeout=45.0):
        """Starts this node and waits until it answers an MQTT CONNECT with CONNACK 0 (which it
        does only once it is back in the cluster with JetStream) and the cluster serves MQTT
        again (NatsCluster.wait_serving); returns self."""
        began = time.monotonic()
        self.launch()
        try:
            self.wait_accepting(timeout)
            self.cluster.wait_serving(max(1.0, timeout - (time.monotonic() - began)))
        except BaseException:
            self.stop()
            raise
        return self

    def wait_accepting(self, timeout):
        wait_accepted(self.port, self.cluster.username, self.cluster.password, timeout,
                      lambda: self.proc.poll() is None, "nats-server %s" % self.name, self.log_text)

    def stop(self, timeout=10.0):
        """SIGTERM: a clean shutdown (it leaves the cluster); SIGKILL at `timeout`."""
        if not self.running:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL: a crash."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10.0)

    @property
    def missing_log(self):
        return "(no log of nats node %s)" % self.name


class NatsCluster:
    """`nodes` nats-server (Debian's 2.9.10) on 127.0.0.1, each with JetStream (its store in
    `workdir`/n<i>) and the MQTT listener; more than one form a cluster (routes between all) with
    the MQTT streams replicated on min(3, nodes). `ports` are the MQTT ports, one per node; `port`
    is node 0's; node(i) starts, stops (SIGTERM) or kills (SIGKILL) one node. With `username`,
    the server's `authorization { users }` applies to MQTT too. `mqtt_options`: more settings of
    the mqtt block (consumer_replicas, ...). `pids_file`: see processes.launch.

    Measured (2.9.10, 3 nodes, loopback): start to ready 3.3-6.5 s (one node: 0.1 s); stop 0.05 s.
    MQTT 3.1.1 only: an MQTT 5 CONNECT gets CONNACK 0x01 (unacceptable protocol version), then
    the connection is closed. QoS 0 and 1: a QoS 2 subscription is granted QoS 1; a QoS 2
    PUBLISH closes the connection. Every subscription makes a JetStream consumer: its SUBACK
    takes 0.3-1.6 s in a cluster. Retained messages are kept in JetStream and reach later
    subscribers on any node, wildcard filters included. Last will works. Topics starting with $
    are ordinary: publishing to $aws/... succeeds, and a subscriber to # receives them too.
    With a username: no credentials or a wrong password get CONNACK 5.
    After a node is killed (or stopped), the others serve MQTT again within 1-30 s (typically
    10-25): until JetStream has moved the dead node's leaders and stops placing new consumers
    on it, CONNECTs time out or SUBSCRIBEs are refused (SUBACK 0x80) after 4 s, intermittently;
    wait_serving waits for that. A restarted node serves again within 3-12 s."""

    def __init__(self, workdir, nodes=3, username=None, password=None, mqtt_options=None, pids_file=None,
                 permissions=None):
        assert nodes >= 1
        # The user's NATS permissions ({"subscribe": {"deny": ["secret.>"]}}, subjects with . for /).
        self.permissions = permissions
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.pids_file = pids_file
        self.name = "edge-harness"
        self.mqtt_options = dict(mqtt_options or {})
        self.nodes = [NatsNode(self, i) for i in range(nodes)]
        self.start_seconds = None

    @property
    def log_path(self):
        """The folder of the nodes' logs (n<i>/nats.log), as a Broker's log_path names its log."""
        return self.workdir

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    @property
    def port(self):
        return self.nodes[0].port

    def node(self, i):
        return self.nodes[i]

    def start(self, timeout=30.0):
        """Starts every node and waits until the cluster serves MQTT (see wait_serving); returns self."""
        began = time.monotonic()
        for n in self.nodes:
            n.launch()
        try:
            # The first MQTT CONNECT makes the MQTT streams; before the JetStream meta leader is
            # elected it waits 4 s for an answer and fails, so the leader comes first.
            if len(self.nodes) > 1:
                for n in self.nodes:
                    poll_until(lambda: META_LEADER.search(n.log_text()[n.log_offset:]) or not n.running,
                               max(1.0, timeout - (time.monotonic() - began)),
                               "a JetStream meta leader in the log of nats node %s" % n.name)
            for n in self.nodes:
                n.wait_accepting(max(1.0, timeout - (time.monotonic() - began)))
            self.wait_serving(max(1.0, timeout - (time.monotonic() - began)))
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def wait_serving(self, timeout=45.0):
        """Waits until the running nodes serve MQTT: a QoS 1 message published on each running
        node's successor reaches a subscriber on it, and a retained message published on the last
        running node reaches a later subscriber on the first. Retried as a whole until `timeout`
        (more than the harness's WAIT: after a node dies JetStream moves its leaders, and for up
        to 30 s CONNECTs and SUBSCRIBEs on the others may time out (4 s) or be refused, SUBACK
        0x80). Returns self."""
        deadline = time.monotonic() + timeout
        while True:
            live = [n for n in self.nodes if n.running]
            if not live:
                raise HarnessError("no node of the NATS cluster runs")
            try:
                attempt = max(1.0, min(10.0, deadline - time.monotonic()))
                for i, n in enumerate(live):
                    round_trip(live[(i + 1) % len(live)].port, n.port, self.username, self.password, timeout=attempt)
                round_trip(live[-1].port, live[0].port, self.username, self.password, retained=True, timeout=attempt)
                return self
            except (HarnessError, OSError) as error:
                failure = error
            if time.monotonic() >= deadline:
                raise HarnessError("the NATS cluster did not serve MQTT round trips within %.0f s (last failure: %s); "
                                   "its logs:\n%s" % (timeout, failure, "\n".join(
                                       "=== %s\n%s" % (n.name, tail(n.log_text(), 20)) for n in self.nodes)))
            time.sleep(0.2)  # a bounded retry of the whole check, with the deadline above

    def reload(self, what="the new configuration"):
        """Rewrites every running node's configuration (after a change to `permissions`, say) and
        has it reloaded (SIGHUP), waiting for each to log that it did."""
        for n in self.nodes:
            if not n.running:
                continue
            reloads = n.log_text().count("Reloaded server configuration")
            n.conf_path.write_text(n._config())
            n.proc.send_signal(signal.SIGHUP)
            poll_until(lambda n=n: n.log_text().count("Reloaded server configuration") > reloads, 10.0,
                       "nats node %s to reload %s" % (n.name, what))

    def stop(self, timeout=10.0):
        for n in self.nodes:
            if n.running:
                n.proc.terminate()
        for n in self.nodes:
            n.stop(timeout)

    @property
    def running(self):
        return all(n.running for n in self.nodes)

    def log_text(self):
        return "\n".join("=== %s (%s)\n%s" % (n.name, n.log_path, n.log_text()) for n in self.nodes)

