"""The anomaly example deployed as shipped: alerts on alerts/<sensor> for exactly the injected
anomalies of the demo's stream, the threshold raised live through the classic shadow (same
process), and a threshold the function refuses kept out, reported, and survived."""

import importlib.util
import json

import harness as h

ANOMALY = h.REPO / "examples" / "anomaly"
FUNCTION = "anomaly"
READINGS_PER_SENSOR = 120
BATCH = 20  # readings published before waiting for their results: well under the queue size


def load_demo():
    """examples/anomaly/demo_client.py, by path (examples/digits has a demo_client too)."""
    spec = importlib.util.spec_from_file_location("anomaly_demo_client", ANOMALY / "demo_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()
STREAM = demo.simulate(READINGS_PER_SENSOR)


def deploy_example(agent, edge):
    """Starts the agent and deploys the example; returns the agent and the function's config."""
    started = agent()
    # The example's own document, unchanged but for the directory; its digest must still match.
    doc = h.example_deployment("anomaly")
    assert not h.stale_digests(doc), "deployment.json's sha256 is stale for %s" % h.stale_digests(doc)
    edge.deploy(doc, timeout=60)
    return started, doc["functions"][FUNCTION]["config"]


def function_pid(edge):
    """The function's pid from a health report published after this call (every 2 s here)."""
    since = edge.obs.mark()
    return edge.function_health(FUNCTION, lambda f: f["state"] == "RUNNING", since=since,
                                what="a fresh health report with %s RUNNING" % FUNCTION)["pid"]


def ids_of(phase, kinds):
    return sorted(demo.reading_id(phase, r) for r in STREAM if r["kind"] in kinds)


def stream(edge, phase):
    """Sends the demo's stream with ids of `phase`, BATCH at a time, waiting for each batch's
    results; then asserts that no alert follows the last result. Returns (results by reading id,
    alert messages)."""
    results_topic = edge.topics.results(FUNCTION)
    since = edge.obs.mark()
    for start in range(0, len(STREAM), BATCH):
        batch = STREAM[start:start + BATCH]
        batch_since = edge.obs.mark()
        # The whole batch goes out before any PUBACK is awaited (one round trip per batch, not
        # per reading); QoS 1 from one client keeps the order.
        sent = [edge.obs.client.publish("sensors/%s/readings" % reading["sensor"],
                                        json.dumps({"sensor": reading["sensor"], "value": reading["value"],
                                                    "id": demo.reading_id(phase, reading)}), qos=1)
                for reading in batch]
        for info in sent:
            info.wait_for_publish(10)
            assert info.is_published(), "a reading of phase %s was not acknowledged within 10 s" % phase
        edge.obs.wait_count(results_topic, None, len(batch), since=batch_since, timeout=30,
                            what="results for readings %d to %d of phase %s" % (start, start + len(batch) - 1, phase))
    # The results are the sentinel: the agent publishes a reading's alert before its result,
    # both at QoS 1 on one connection, so every alert of the stream is already in.
    edge.obs.assert_none("alerts/#", since=edge.obs.mark(), within=h.QUIET,
                         why="every alert comes before its reading's result; none may follow the last one")
    results = {}
    for message in edge.obs.seen(results_topic, since=since):
        assert message.json["status"] == "ok", message.json
        result = message.json["result"]
        assert result["id"] not in results, "two results for %s" % result["id"]
        results[result["id"]] = result
    assert sorted(results) == sorted(demo.reading_id(phase, r) for r in STREAM), "a reading has no result"
    alerts = edge.obs.seen("alerts/#", since=since)
    for alert in alerts:
        assert alert.topic == "alerts/" + alert.json["sensor"], alert
    return results, alerts


def alerted_ids(alerts):
    return sorted(alert.json["id"] for alert in alerts)


def desire_threshold(shadow, value):
    shadow.accepted("update", {"state": {"desired": {"functions": {FUNCTION: {"config": {"threshold": value}}}}}})


def in_use(shadow, predicate, what):
    """The function's own shadow once `predicate(reported)` holds: what the detector applied."""
    return shadow.wait_state(lambda d: predicate(d.reported), name=FUNCTION, what=what)["state"]["reported"]


def test_alerts_exactly_for_the_anomalies_and_the_threshold_raised_live(agent, edge, shadow):
    _, config = deploy_example(agent, edge)
    assert config["threshold"] == 4.0
    pid = function_pid(edge)
    after_deploy = edge.obs.mark()

    results, alerts = stream(edge, "A")
    expected = ids_of("A", ("small", "large"))
    assert len(expected) >= 10, "the stream should hold a fair number of anomalies"
    assert alerted_ids(alerts) == expected, "at threshold 4 every injected anomaly, and only those, alerts"
    assert sorted(i for i, r in results.items() if r["anomaly"]) == expected
    warm_up = [r for r in STREAM if r["index"] < 30]
    assert all(results[demo.reading_id("A", r)]["score"] is None for r in warm_up), "no score before minSamples"
    first = alerts[0].json
    assert first["threshold"] == 4.0 and first["score"] > 4.0 and first["function"] == FUNCTION
    assert first["thing"] == edge.thing and isinstance(first["ts"], int)

    # Raise the threshold through the classic shadow: the agent reports it, the detector uses it.
    desire_threshold(shadow, 12.0)
    document = shadow.wait_state(lambda d: d.reported["functions"][FUNCTION]["config"]["threshold"] == 12.0,
                                 what="reported threshold 12")
    assert "delta" not in document["state"], document["state"].get("delta")
    reported = in_use(shadow, lambda r: r["config"]["threshold"] == 12.0, "the detector using threshold 12")
    assert "problems" not in reported, reported

    results, alerts = stream(edge, "B")
    large, small = ids_of("B", ("large",)), ids_of("B", ("small",))
    assert alerted_ids(alerts) == large, "at threshold 12 only the large anomalies alert"
    assert all(results[i]["anomaly"] is False and 4.0 < results[i]["score"] <= 12.0 for i in small), \
        [results[i] for i in small]
    assert all(alert.json["threshold"] == 12.0 for alert in alerts)

    assert function_pid(edge) == pid, "a live threshold change must not restart the function"
    started = edge.obs.seen(edge.topics.events, lambda m: m.json["type"] == "function.started", since=after_deploy)
    assert started == [], "the function was started again: %r" % started


def test_a_bad_threshold_is_refused_reported_and_survived(agent, edge, shadow):
    started, _ = deploy_example(agent, edge)
    pid = function_pid(edge)
    stream(edge, "A")  # warm every sensor's window

    desire_threshold(shadow, "high")
    reported = in_use(shadow, lambda r: "config.threshold" in r.get("problems", {}),
                      "the function's own shadow to report the bad threshold")
    problem = reported["problems"]["config.threshold"]
    assert 'is "high"' in problem and "must be a number greater than 0" in problem and "keeping 4.0" in problem, problem
    assert reported["config"]["threshold"] == 4.0
    log = started.state_dir / "logs" / ("%s.log" % FUNCTION)
    h.poll_until(lambda: 'ERROR anomaly: config.threshold is "high"' in log.read_text(errors="replace"),
                 h.WAIT, "the refusal in the function's log %s" % log)

    # Still running, same process, still alerting at the old threshold.
    results, alerts = stream(edge, "C")
    assert alerted_ids(alerts) == ids_of("C", ("small", "large"))
    assert function_pid(edge) == pid, "a refused configuration must not restart the function"

    # A bad event is the handler's ValueError, naming the field.
    bad = edge.send("sensors/+/readings", {"sensor": "s1", "value": "21.7"}, FUNCTION)
    assert bad["status"] == "error" and bad["error"]["type"] == "ValueError", bad
    assert '"value" is "21.7" (a string); it must be a number' in bad["error"]["message"], bad

    # A good value clears the problem.
    desire_threshold(shadow, 12.0)
    reported = in_use(shadow, lambda r: r["config"]["threshold"] == 12.0, "threshold 12 in use")
    assert "problems" not in reported, reported

