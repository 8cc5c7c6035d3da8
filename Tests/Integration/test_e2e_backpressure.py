"""Back-pressure: a function that publishes in a loop is held to its publish rate, told so on the
runtime protocol and counted in health and events, while another function keeps answering and
the agent's memory stays flat; removing the flooder is reported at once (issue 12, "Back-pressure
and fairness")."""

import time

import harness as h

FLOODER = '''
import time


def handler(event, context):
    end = time.monotonic() + event["seconds"]
    n = 0
    while time.monotonic() < end:
        context.publish("flood/out", {"n": n}, qos=event["qos"])
        n += 1
    return {"published": n}
'''

RATE = 50


def test_a_flooding_function_is_held_to_its_rate_and_starves_nobody(agent, edge, echo_bin, make_observer, broker):
    a = agent()
    module = h.write_module(h.shared_path("src"), "flooder", FLOODER)
    flood_out = make_observer(broker.port, name="flood", filters=("flood/out",))
    functions = {
        "flood": h.python_function(module, "flooder.handler", subscriptions=("flood/start/+",), publish=["flood/#"],
                                   timeoutMs=60000, limits={"publishPerSecond": RATE}),
        "echo": h.native_function(echo_bin),
    }
    edge.deploy(h.document("flood-v1", 1, functions))
    edge.send("sensors/+/x", {"warm": 1}, "echo")
    rss_before = h.rss_kb(a.pid)

    seconds = 6
    since = edge.obs.mark()
    started = time.monotonic()
    edge.obs.publish("flood/start/go", {"seconds": seconds, "qos": 1})
    refused = edge.event("function.publish_refused", lambda e: e["function"] == "flood", since=since)
    assert refused["publishPerSecond"] == RATE and refused["refused"] >= 1, refused
    # While it floods, the other function answers every request, promptly.
    for n in range(5):
        asked = time.monotonic()
        result = edge.send("sensors/+/x", {"n": n}, "echo", timeout=5)
        assert result["status"] == "ok", result
        assert time.monotonic() - asked < 2, "echo answered %.2f s after it was asked, during the flood" % (time.monotonic() - asked)
    done = edge.obs.wait_for(edge.topics.results("flood"), since=since, timeout=seconds + 20,
                             what="the flooder's own result once its loop ended").json
    elapsed = time.monotonic() - started
    attempted = done["result"]["published"]
    rss_after = h.rss_kb(a.pid)

    report = edge.function_health("flood", lambda f: f["publish"]["sent"] + f["publish"]["refused"] >= attempted,
                                  what="health counting every publish the flooder attempted")
    sent, refused_total = report["publish"]["sent"], report["publish"]["refused"]
    # One second's burst, then the rate.
    assert sent <= RATE * (elapsed + 1) + 1, (sent, elapsed)
    assert attempted > 10 * sent, "the flooder attempted only %d publishes, %d went: no flood to hold back" % (attempted, sent)
    assert refused_total == attempted - sent, report["publish"]
    arrived = flood_out.wait_count("flood/out", None, sent, what="the %d publishes the agent let through" % sent)
    assert len(arrived) == sent, (len(arrived), sent)
    # Refused lines are read and dropped: the agent holds none of them.
    assert rss_after - rss_before < 8 * 1024, "the agent grew from %d to %d kB during the flood" % (rss_before, rss_after)

    # Removing the flooder is reported without waiting on a backlog.
    asked = time.monotonic()
    edge.deploy(h.document("flood-v2", 2, {"echo": functions["echo"]}))
    assert time.monotonic() - asked < 5, "removing the flooder took %.1f s" % (time.monotonic() - asked)
    flood_out.close()


def test_a_publish_larger_than_a_seconds_bytes_is_refused_naming_the_limit(agent, edge):
    a = agent()
    module = h.write_module(h.shared_path("src"), "big", '''
def handler(event, context):
    context.publish("big/out", "x" * 3000)
    return {"done": True}
''')
    edge.deploy(h.document("big-v1", 1, {"big": h.python_function(module, "big.handler", subscriptions=("big/in/+",),
                                                                   publish=["big/#"], limits={"publishKBPerSecond": 2})}))
    since = edge.obs.mark()
    result = edge.send("big/in/+", {"go": 1}, "big")
    assert result["status"] == "ok", result
    report = edge.function_health("big", lambda f: f["publish"]["refused"] == 1, since=since,
                                  what="the oversized publish counted as refused")
    assert report["publish"]["sent"] == 0, report
    edge.obs.assert_none("big/out", since=since, within=1, why="a publish over limits.publishKBPerSecond must not go out")
    log = a.state_dir / "logs" / "big.log"
    # The runtime logs the agent's publishError to the function's stderr (its log).
    h.poll_until(lambda: log.exists() and "publishKBPerSecond" in log.read_text(), h.WAIT,
                 "the function told why its publish was refused (in its log)")
