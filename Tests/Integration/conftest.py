"""Fixtures for the end-to-end tests of edge-agent against a real Mosquitto.

- `broker`: a mosquitto on a free 127.0.0.1 port, restartable on the same port.
- `agent`: a factory that starts the real binary ($EDGE_AGENT_BIN, default .build/debug/edge-agent).
- `observer`: an MQTT 5 client subscribed to `#` before the test acts.
- `edge`: the observer plus the thing's topics and deployment helpers.
- `echo_bin`: examples/echo-native/echo.c compiled once per session.
- `misbehave_bin`: Tests/Integration/functions/misbehave.c (a function that misbehaves on request)
  compiled once per session.
- `shadow`: an independent AWS IoT Device Shadow client for the test's thing
  (harness/shadow_client.py), subscribed to the reply topics before the test acts.
- `python_launcher`: the interpreter for Python functions (the venv scripts/setup.sh makes).
- `shared_tmp`: this test's folder under the session's world-traversable base (/tmp/edge-e2e-*,
  0711): state directories, modules and executables a function must reach go there, since
  functions may run as another user (edgefn) who cannot enter pytest's tmp_path. Agent logs and
  broker files stay in tmp_path.
On failure, the log of every agent and broker the test started is attached to the report.

The helpers behind them are the package `harness` (Tests/harness/), importable because pytest.ini
at the repository's root puts `Tests` on the path.
"""

import subprocess

import pytest

import harness as h


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for index, agent in enumerate(getattr(item, "_edge_agents", [])):
            report.sections.append(("edge-agent log #%d (%s)" % (index + 1, agent.log_path),
                                    h.tail(agent.log_text(), 200)))
        for broker in getattr(item, "_edge_brokers", []):
            report.sections.append(("mosquitto log (%s)" % broker.log_path, h.tail(broker.log_text(), 60)))


@pytest.fixture(scope="session", autouse=True)
def shared_base():
    """The session's world-traversable base folder, removed at the end of the session."""
    base = h.make_shared_base()
    yield base
    h.remove_shared_base()


@pytest.fixture(autouse=True)
def shared_tmp(request, shared_base):
    """This test's folder (0711) under the shared base; the default folder of h.shared_path,
    h.write_module and h.copy_executable while the test runs."""
    folder = h.begin_shared_test(request.node.name)
    yield folder
    h.end_shared_test()


@pytest.fixture(scope="session")
def agent_bin():
    try:
        return h.agent_binary()
    except h.HarnessError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def echo_bin(shared_base):
    """The native echo example, compiled with cc and json-c (into the shared base: any user may read it)."""
    out = h.shared_path(shared_base / "bin") / "echo"
    source = h.REPO / "examples" / "echo-native" / "echo.c"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.fail("pkg-config cannot find json-c (install libjson-c-dev): %s" % flags.stderr, pytrace=False)
    result = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", str(out), str(source)] + flags.stdout.split(),
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("cannot compile %s:\n%s" % (source, result.stderr), pytrace=False)
    return out


@pytest.fixture(scope="session")
def misbehave_bin(shared_base):
    """Tests/Integration/functions/misbehave.c: one native function with a misbehaviour per mode
    (argv[1]), compiled with cc alone (no json-c)."""
    out = h.shared_path(shared_base / "bin") / "misbehave"
    source = h.REPO / "Tests" / "Integration" / "functions" / "misbehave.c"
    result = subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-o", str(out), str(source)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("cannot compile %s:\n%s" % (source, result.stderr), pytrace=False)
    out.chmod(0o755)
    return out


@pytest.fixture(scope="session")
def python_launcher():
    """`--python` for the agent: the function interpreter scripts/setup.sh makes (a venv of
    Debian's python3 with numpy and onnxruntime that every user can read, since functions may run
    as edgefn), or $EDGE_FUNCTION_PYTHON; by its absolute path."""
    try:
        return h.function_python()
    except h.HarnessError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def thing():
    return h.unique("dev-")


@pytest.fixture
def make_broker(request, tmp_path):
    brokers = []
    request.node._edge_brokers = brokers

    def make(tls=None, port=None, users=None, settings=()):
        broker = h.Broker(tmp_path / ("broker%d" % (len(brokers) + 1)), port=port, tls=tls, users=users, settings=settings)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def broker(make_broker):
    return make_broker()


@pytest.fixture
def agent(request, tmp_path, agent_bin, broker, thing, python_launcher):
    """Starts an edge-agent: agent(extra_args=[...], state_dir=..., thing=..., port=...). The state
    directory is "state" (or the name of `state_dir`) in the test's shared folder; the agent gets
    --cgroup-root /edge-e2e/<thing>, and whatever cgroups are left there are removed after the test."""
    agents = []
    request.node._edge_agents = agents

    def start(extra_args=(), state_dir=None, thing_name=None, port=None, groups=(), health_interval=2,
              broker_host="127.0.0.1", python=None, env=None, wrapper=(), brokers=None):
        index = len(agents) + 1
        # Functions (maybe another user) reach their folders under the state directory: it goes
        # in the shared folder, by its name when a test gives one.
        state = h.shared_location(state_dir or "state")
        name = thing_name or thing
        instance = h.Agent(agent_bin, name, port or broker.port, state, tmp_path / ("agent%d.log" % index),
                           health_interval=health_interval, groups=groups, broker_host=broker_host,
                           cgroup_root=h.cgroup_root(name), python=python or python_launcher,
                           extra_args=extra_args, env=env, wrapper=wrapper, brokers=brokers)
        agents.append(instance)
        return instance.start()

    yield start
    for instance in agents:
        instance.cleanup()
    for name in sorted({instance.thing for instance in agents}):
        h.remove_cgroups(name)


@pytest.fixture
def make_observer(request):
    observers = []

    def make(port, **kwargs):
        observer = h.Observer(port, **kwargs).start()
        observers.append(observer)
        return observer

    yield make
    for observer in observers:
        observer.close()


@pytest.fixture
def observer(make_observer, broker):
    return make_observer(broker.port)


@pytest.fixture
def edge(observer, thing):
    return h.Edge(observer, thing)


@pytest.fixture
def shadow(broker, thing):
    client = h.ShadowClient(broker.port, thing).start()
    yield client
    client.close()


@pytest.fixture
def shipped(request, tmp_path, thing):
    """Starts a broker with the shipped configuration (or its control variant, without the client id
    guard): shipped(guard=True) -> (broker, pki, other), `pki` holding certificates the certs/
    scripts made for the test's thing, another device `other` and `operator`."""
    other = h.unique("dev-")
    pki = h.make_certificates(tmp_path / "pki", (thing, other))
    brokers = []
    request.node._edge_brokers = brokers

    def start(guard=True):
        # (Not "brokerN": the agent fixture's own broker fixture uses those folders.)
        broker = h.ShippedBroker(tmp_path / ("shipped-broker%d" % (len(brokers) + 1)), pki, takeover_guard=guard)
        brokers.append(broker)
        broker.start()
        return broker, pki, other

    yield start
    for broker in brokers:
        broker.stop()
