"""`shadows: cloud` (issue 13): the broker's side serves the AWS IoT Device Shadow API (AWS IoT
Core, or here harness.ShadowService, written from AWS's documentation) and the agent is one of
its device clients. It fetches its classic shadow on connect and after each delta, applies the
desired state exactly as in `serve` mode, reports what runs with version checks (a conflict is
fetched and reported again), forwards functions' requests on their named shadows, keeps the last
desired state across a restart without the service, and never answers a request itself."""

import json

import pytest

import harness as h
from test_e2e_shadow_reconcile import SHADOWED, deploy_python, invoke


@pytest.fixture
def service(broker):
    running = h.ShadowService(broker.port).start()
    yield running
    running.close()


@pytest.fixture
def operator(broker, thing):
    client = h.ShadowClient(broker.port, thing, name="operator").start()
    yield client
    client.close()


def _reported(service, thing, predicate, what):
    return h.poll_until(lambda: (lambda d: d if d and predicate(d.get("reported") or {}) else None)(service.document(thing)),
                        h.WAIT, what)


def test_the_agent_follows_the_services_desired_state_and_reports_with_versions(agent, edge, service, operator, echo_bin, thing):
    running = agent(extra_args=["--shadows", "cloud"])
    # It asked for its shadow (404: there is none yet) and reported what runs, creating it.
    document = _reported(service, thing, lambda r: "agent" in r, "the agent's first report in the service's shadow")
    assert document["reported"]["agent"]["healthIntervalSeconds"] == 2, document
    assert service.requests["get"] >= 1
    # The operator's desired state reaches the agent through a delta.
    operator.accepted("update", {"state": {"desired": {"agent": {"healthIntervalSeconds": 1}}}})
    _reported(service, thing, lambda r: r["agent"]["healthIntervalSeconds"] == 1, "the new health interval reported")
    running.wait_log("health interval changed by the shadow", what="the agent applying the desired health interval")
    # Another writer moved the version on unseen: the agent's next report is refused (409),
    # fetched and sent again on the current version.
    service.bump_version(thing)
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["cfg/+/echo"])}))
    _reported(service, thing, lambda r: "echo" in r.get("functions", {}), "the deployed function reported after a conflict")
    assert service.conflicts >= 1, "the stale report must have met a version check"
    # Turned off from the shadow, as in serve mode.
    operator.accepted("update", {"state": {"desired": {"functions": {"echo": {"enabled": False}}}}})
    edge.function_health("echo", lambda f: f["state"] == "DISABLED", what="echo DISABLED by the service's shadow")
    _reported(service, thing, lambda r: r["functions"]["echo"]["state"] == "DISABLED", "echo reported DISABLED")
    # The agent serves nothing: one get, one answer (the service's).
    since = operator.obs.mark()
    operator.get()
    operator.obs.assert_none("$aws/things/%s/shadow/get/rejected" % thing, since=since, within=1.0,
                             why="only the service answers a get; the agent must not")
    assert len(operator.obs.seen("$aws/things/%s/shadow/get/accepted" % thing, since=since)) == 1, \
        "one get, one answer: the agent must not answer shadow requests in cloud mode"


def test_functions_named_shadows_go_to_the_service(agent, edge, service, tmp_path, thing):
    agent(extra_args=["--shadows", "cloud"])
    deploy_python(edge, tmp_path, "counter", SHADOWED)
    assert invoke(edge, "counter", {"get_missing": True})["result"] == {"code": 404}
    first = invoke(edge, "counter", {"n": 1})["result"]
    assert first["accepted"]["version"] == 1 and first["document"]["state"]["reported"] == {"count": 1}, first
    assert service.document(thing, "counter")["reported"] == {"count": 1}
    stale = invoke(edge, "counter", {"stale": True})["result"]
    assert stale["code"] == 409, stale


def test_the_last_desired_state_holds_across_a_restart_without_the_service(agent, edge, service, operator, broker, thing):
    first = agent(extra_args=["--shadows", "cloud"])
    _reported(service, thing, lambda r: "agent" in r, "the agent's first report")
    operator.accepted("update", {"state": {"desired": {"agent": {"healthIntervalSeconds": 1}}}})
    _reported(service, thing, lambda r: r["agent"]["healthIntervalSeconds"] == 1, "the new interval reported")
    assert first.stop() == 0
    service.close()
    since = edge.obs.mark()
    second = agent(extra_args=["--shadows", "cloud"])
    # No service to ask: the saved copy rules, and the agent keeps working.
    second.wait_log("health interval changed by the shadow", what="the saved desired interval applied at start")
    edge.health(lambda j: j["status"] == "online", since=since, what="health after the restart")
    second.check_alive()
