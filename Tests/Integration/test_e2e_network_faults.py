"""Real network faults between the agent and its broker (issue 12): the agent runs in a network
namespace of its own, joined to the broker's by a veth pair, and inside that namespace nftables
drops everything to and from the broker (a silent partition: no RST tells the agent), or drops
10 % of packets at random, and `tc tbf` makes a slow uplink. A steady QoS 1 stream of requests
goes through it; every request must get its answer (duplicates only as documented: at least
once), the agent must notice a dead link within its keepalive, and recover by itself.

Needs root, ip (iproute2), nft and tc: under CI=true a missing one is a failure."""

import json
import os
import random
import shutil
import subprocess
import threading
import time

import pytest

import harness as h

KEEPALIVE = 5
PARTITION_SECONDS = int(os.environ.get("EDGE_TEST_PARTITION_SECONDS", "60"))


def _run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Link:
    """A network namespace for the agent, joined to the host's by a veth pair: the host side is
    10.77.K.1, the agent's 10.77.K.2. Faults go into the namespace's own nftables and qdisc."""

    def __init__(self):
        tag = "%05x" % random.randrange(1 << 20)
        self.ns = "edge-ft-" + tag
        self.host_if, self.agent_if = "eft%sh" % tag, "eft%sa" % tag
        subnet = random.randrange(1, 250)
        self.host_ip, self.agent_ip = "10.77.%d.1" % subnet, "10.77.%d.2" % subnet
        _run("ip", "netns", "add", self.ns)
        try:
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.agent_if)
            _run("ip", "link", "set", self.agent_if, "netns", self.ns)
            _run("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            self.inside("ip", "addr", "add", self.agent_ip + "/30", "dev", self.agent_if)
            self.inside("ip", "link", "set", self.agent_if, "up")
            self.inside("ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.close()
            raise

    def inside(self, *argv):
        _run("ip", "netns", "exec", self.ns, *argv)

    @property
    def wrapper(self):
        return ["ip", "netns", "exec", self.ns]

    def nft(self, rules):
        """Replaces the namespace's fault table with `rules` (nft statements for its input and output chains)."""
        self.heal()
        script = ("table inet fault {\n chain in { type filter hook input priority 0; %s }\n"
                  " chain out { type filter hook output priority 0; %s }\n}\n" % (rules, rules))
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=script.encode(), check=True,
                       capture_output=True)

    def partition(self):
        self.nft("ip saddr %s drop; ip daddr %s drop;" % (self.host_ip, self.host_ip))

    def lose(self, percent_in_ten):
        self.nft("numgen random mod 10 < %d drop;" % percent_in_ten)

    def heal(self):
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "fault"], capture_output=True)

    def slow_uplink(self, rate):
        self.inside("tc", "qdisc", "add", "dev", self.agent_if, "root", "tbf", "rate", rate, "burst", "16kb",
                    "latency", "2s")

    def close(self):
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


class VethBroker(h.Broker):
    """The harness's Mosquitto, also listening on the host side of the veth pair."""

    def __init__(self, workdir, address):
        self.address = address
        super().__init__(workdir)

    def _config(self):
        return super()._config() + "listener %d %s\nmax_queued_messages 10000\n" % (self.port, self.address)


@pytest.fixture
def link(request, tmp_path, make_observer, thing):
    h.require_root()
    for tool in ("ip", "nft", "tc"):
        h.require(shutil.which(tool) is not None, "needs %s (scripts/setup.sh installs iproute2 and nftables)" % tool)
    made = Link()
    broker = VethBroker(tmp_path / "veth-broker", made.host_ip)
    request.node._edge_brokers.append(broker)
    broker.start()
    made.broker = broker
    made.edge = h.Edge(make_observer(broker.port), thing)
    yield made
    made.close()


class Stream:
    """Requests {"n": i} to the echo function at `rate` a second (QoS 1), until stopped."""

    def __init__(self, edge, rate):
        self.edge = edge
        self.period = 1.0 / rate
        self.sent = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_flag.is_set():
            self.edge.obs.publish("ft/in", json.dumps({"n": self.sent}), qos=1)
            self.sent += 1
            self.stop_flag.wait(self.period)  # the stream's pace, not a synchronisation

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(15)

    def check_all_answered(self, timeout):
        """Every request answered, at least once; first answers in order. Returns the duplicates."""
        topic = self.edge.topics.results("echo")
        self.edge.obs.wait_count(topic, lambda m: m.json["status"] == "ok", self.sent, timeout=timeout,
                                 what="answers to the %d requests of the stream" % self.sent)
        numbers = []
        while True:
            numbers = [m.json["result"]["echo"]["n"] for m in self.edge.obs.seen(topic) if m.json["status"] == "ok"]
            if set(numbers) >= set(range(self.sent)):
                break
            self.edge.obs.wait_count(topic, None, len(numbers) + 1, timeout=timeout,
                                     what="the missing answers %s" % sorted(set(range(self.sent)) - set(numbers))[:20])
        first = []
        for n in numbers:
            if n not in first:
                first.append(n)
        assert first == sorted(first), "answers out of order: %s" % first[:50]
        return len(numbers) - len(set(numbers))


def _start(agent, link, echo_bin, tmp_path):
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"broker": {"keepAliveSeconds": KEEPALIVE}}))
    a = agent(wrapper=link.wrapper, port=link.broker.port, broker_host=link.host_ip, extra_args=["--config", str(config)])
    # No --cgroups: `ip netns exec` mounts a /sys of its own, without the cgroup hierarchies.
    # The backlog of a partition arrives at once when it heals: queueSize holds all of it (with
    # the default 100, the excess is answered QueueFull: an answer, but not the echo counted here).
    link.edge.deploy(h.document("ft", 1, {"echo": h.native_function(echo_bin, subscriptions=("ft/in",), qos=1,
                                                                     queueSize=2000)}))
    return a, link.edge


def _connects(a):
    return a.log_text().count("connected to the broker")


def test_a_silent_partition_is_noticed_within_the_keepalive_and_nothing_is_lost(agent, link, echo_bin, tmp_path):
    a, edge = _start(agent, link, echo_bin, tmp_path)
    with Stream(edge, 10) as stream:
        h.poll_until(lambda: stream.sent >= 20, h.WAIT, "the stream under way")
        cut = time.monotonic()
        link.partition()
        a.wait_log(r"lost the broker", timeout=KEEPALIVE * 3,
                   what="the agent noticing the dead link within its keepalive (%d s)" % KEEPALIVE)
        noticed = time.monotonic() - cut
        # The broker's side gives up on the agent too (1.5 keepalives); requests queue there meanwhile.
        left = PARTITION_SECONDS - (time.monotonic() - cut)
        time.sleep(max(0.0, left))  # the partition's length itself (a fault held for 60 s), not a synchronisation
        link.heal()
        healed = time.monotonic()
        a.wait_log(r"connected to the broker", count=2, timeout=15, what="the agent back by itself after the partition")
        back = time.monotonic() - healed
        h.poll_until(lambda: stream.sent >= 20 + PARTITION_SECONDS * 10 * 0.9, h.WAIT, "the stream past the partition")
    duplicates = stream.check_all_answered(timeout=60)
    assert noticed <= KEEPALIVE * 1.75 + 1, "the dead link was noticed after %.1f s (keepalive %d s)" % (noticed, KEEPALIVE)
    assert back <= 5, "the agent reconnected %.1f s after the link healed" % back
    print("partition: noticed after %.1f s, back %.1f s after healing, %d requests, %d duplicate answers"
          % (noticed, back, stream.sent, duplicates))


def test_ten_percent_packet_loss_loses_nothing(agent, link, echo_bin, tmp_path):
    a, edge = _start(agent, link, echo_bin, tmp_path)
    with Stream(edge, 10) as stream:
        link.lose(1)  # 1 in 10, both ways
        h.poll_until(lambda: stream.sent >= 200, 60, "200 requests sent under 10 % loss")
        link.heal()
    duplicates = stream.check_all_answered(timeout=60)
    a.check_alive()
    print("loss: %d requests, %d duplicate answers, %d connects" % (stream.sent, duplicates, _connects(a)))


def test_a_slow_uplink_delivers_every_answer(agent, link, echo_bin, tmp_path):
    a, edge = _start(agent, link, echo_bin, tmp_path)
    link.slow_uplink("256kbit")
    padding = "x" * 900
    for n in range(200):
        edge.obs.publish("ft/in", json.dumps({"n": n, "pad": padding}), qos=1)
    topic = edge.topics.results("echo")
    started = time.monotonic()
    answers = edge.obs.wait_count(topic, lambda m: m.json["status"] == "ok", 200, timeout=60,
                                  what="200 answers of about 1 KB each through a 256 kbit/s uplink")
    took = time.monotonic() - started
    numbers = [m.json["result"]["echo"]["n"] for m in answers]
    assert set(numbers) == set(range(200)), sorted(set(range(200)) - set(numbers))
    # 200 KB at 32 KB/s: the shaping really held them back.
    assert took >= 3, "200 answers took only %.1f s: the uplink was not slow" % took
    assert _connects(a) == 1, "the agent lost its connection on a slow (not dead) link"
