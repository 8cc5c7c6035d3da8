"""The agent process itself: restart without a broker, last will, clean stop, configuration
errors, mutual TLS."""

import json
import subprocess

import harness as h


def test_restart_with_broker_down_runs_saved_deployment(agent, edge, broker, echo_bin, tmp_path, make_observer):
    # A private copy of the artifact, deleted later to prove nothing is fetched again.
    source = h.copy_executable(echo_bin, tmp_path / "artifact-src")
    first = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(source, version="1")}))
    assert edge.send("sensors/+/x", {"before": "restart"}, "echo")["status"] == "ok"

    assert first.stop() == 0
    broker.stop()
    source.unlink()

    second = agent()
    # Its function starts with no broker at all: a child process of the agent running the echo
    # binary from the agent's function folder.
    functions_dir = str(first.state_dir / "functions" / "echo")
    child = h.poll_until(lambda: [p for p in second.children() if functions_dir in h.cmdline_of(p)
                                  or functions_dir in _exe(p)], 15,
                         "the restarted agent to start echo from %s without a broker" % functions_dir)
    assert child
    second.wait_log(r"function instance started .*function=echo", what="the function start in the log")
    assert "connected to the broker" not in second.log_text()

    broker.start()  # same port
    observer = make_observer(broker.port, name="after-restart")
    later = h.Edge(observer, edge.thing)
    later.health(lambda j: j["status"] == "online" and j["connection"]["connected"]
                 and j["functions"]["echo"]["state"] == "RUNNING",
                 what="health online with echo RUNNING after the broker came back")
    status = later.obs.wait_for(later.topics.status, lambda m: m.json["status"] == "SUCCEEDED",
                                what="the restored deployment's status").json
    assert status["deploymentId"] == "echo-v1", status
    result = later.send("sensors/+/x", {"after": "restart"}, "echo")
    assert result["status"] == "ok" and result["version"] == "1", result
    assert result["result"]["echo"] == {"after": "restart"}


def _exe(pid):
    try:
        import os
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def test_last_will_on_sigkill(agent, edge, echo_bin):
    a = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    edge.health(lambda j: j["status"] == "online", what="health online")
    since = edge.obs.mark()
    a.kill()
    will = edge.health(lambda j: j["status"] == "offline", since=since, what="the last will on the health topic")
    assert will["reason"] == "connection lost" and will["thing"] == edge.thing, will
    # Retained: a new subscriber sees it.
    late = h.Observer(edge.obs.port, name="late", filters=(edge.topics.health,)).start()
    try:
        retained = late.wait_for(edge.topics.health, what="the retained health for a new subscriber")
        assert retained.retain and retained.json["status"] == "offline", retained
        assert retained.json["reason"] == "connection lost", retained
    finally:
        late.close()


def test_clean_stop_publishes_offline_and_stops_functions(agent, edge, echo_bin, tmp_path):
    a = agent()
    module = h.write_module(tmp_path / "src", "idle", "def handler(event, context):\n    return event\n")
    edge.deploy(h.document("two", 1, {
        "echo": h.native_function(echo_bin),
        "idle": h.python_function(module, "idle.handler"),
    }))
    health = edge.health(lambda j: j["status"] == "online" and all(
        j["functions"].get(f, {}).get("pid") for f in ("echo", "idle")), what="both functions running")
    pids = [health["functions"]["echo"]["pid"], health["functions"]["idle"]["pid"]]
    assert all(h.process_alive(p) for p in pids)

    since = edge.obs.mark()
    assert a.stop() == 0
    offline = edge.health(lambda j: j["status"] == "offline", since=since, what="the offline health after SIGTERM")
    assert offline["reason"] == "agent stopped", offline
    assert [p for p in pids if h.process_alive(p)] == [], "function processes outlived the agent"
    late = h.Observer(edge.obs.port, name="late", filters=(edge.topics.health,)).start()
    try:
        retained = late.wait_for(edge.topics.health, what="the retained health for a new subscriber")
        assert retained.retain and retained.json["status"] == "offline" and retained.json["reason"] == "agent stopped"
    finally:
        late.close()


def _run_agent(agent_bin, *args, timeout=20):
    return subprocess.run([str(agent_bin)] + list(args), capture_output=True, text=True, timeout=timeout)


def test_configuration_errors_exit_2_with_the_setting(agent_bin, tmp_path):
    state = str(tmp_path / "state")
    missing = _run_agent(agent_bin, "--state-dir", state, "--broker-port", "1")
    assert missing.returncode == 2, missing
    assert "thingName" in missing.stderr and "--thing-name" in missing.stderr, missing.stderr

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"thingName": "dev1", "stateDir": state, "brokr": {"port": 1}}))
    unknown = _run_agent(agent_bin, "--config", str(config))
    assert unknown.returncode == 2, unknown
    assert "brokr" in unknown.stderr, unknown.stderr

    no_ca = _run_agent(agent_bin, "--thing-name", "dev1", "--state-dir", state, "--tls-ca", "/nonexistent/ca.crt")
    assert no_ca.returncode == 2, no_ca
    assert "/nonexistent/ca.crt" in no_ca.stderr, no_ca.stderr

    bad_flag = _run_agent(agent_bin, "--thing-name", "dev1", "--health-interval", "0", "--state-dir", state)
    assert bad_flag.returncode == 2 and "healthIntervalSeconds" in bad_flag.stderr, bad_flag


def _tls_setup(make_broker, make_observer, tmp_path, thing):
    tls = h.make_tls_material(tmp_path / "pki", client_names=(thing, "observer"))
    broker = make_broker(tls={"ca": tls["ca"], "cert": tls["server_cert"], "key": tls["server_key"],
                              "require_certificate": True})
    observer = make_observer(broker.port, tls={"ca": tls["ca"], **tls["observer"]})
    return tls, broker, h.Edge(observer, thing)


def test_mutual_tls(agent, make_broker, make_observer, tmp_path, thing):
    tls, broker, edge = _tls_setup(make_broker, make_observer, tmp_path, thing)

    with_cert = agent(port=broker.port, extra_args=["--tls-ca", tls["ca"], "--tls-cert", tls[thing]["cert"],
                                                    "--tls-key", tls[thing]["key"]])
    health = edge.health(lambda j: j["status"] == "online", what="health online over mutual TLS")
    assert health["connection"]["tls"] is True and health["connection"]["connected"] is True, health
    assert "New client connected from 127.0.0.1" in broker.log_text() and ("as %s" % thing) in broker.log_text()
    assert with_cert.stop() == 0

    since = edge.obs.mark()
    refusals = broker.log_text().count("peer did not return a certificate")
    without = agent(port=broker.port, state_dir=tmp_path / "state2", extra_args=["--tls-ca", tls["ca"]])
    broker.wait_log("peer did not return a certificate", count=refusals + 2,
                    what="the broker to refuse the agent's certificate-less connection twice")
    # Bounded negative wait: it has been refused twice; it must not get in on a later attempt.
    edge.obs.assert_none(edge.topics.health, lambda m: m.json["status"] == "online", since=since, within=1.5,
                         why="the broker requires a client certificate")
    assert "connected to the broker" not in without.log_text()


def test_tls_refusal_is_logged_by_the_agent(agent, make_broker, make_observer, tmp_path, thing):
    """An operator must see why the agent cannot connect: a refused TLS handshake (no client
    certificate) should be logged like any other connection failure."""
    tls, broker, edge = _tls_setup(make_broker, make_observer, tmp_path, thing)
    without = agent(port=broker.port, extra_args=["--tls-ca", tls["ca"]])
    broker.wait_log("peer did not return a certificate", count=2, what="the broker to refuse the agent twice")
    without.wait_log(r"(warning|error) .*(connect|TLS|certificate)", timeout=5,
                     what="a warning in the agent's log about the refused connection")
