"""Nothing blocking on the reactor: with every save slowed down (EDGE_AGENT_TEST_SLOW_DISK_MS,
the agent's own slow-disk injection), invocations keep flowing while a shadow update waits for its
fsync, and the update is still answered only once it is saved."""

import time

import harness as h
from harness.shadow_client import prefix

SLOW_MS = 3000


def test_invocations_keep_flowing_while_a_shadow_save_is_slow(agent, edge, shadow, echo_bin):
    agent(env={"EDGE_AGENT_TEST_SLOW_DISK_MS": str(SLOW_MS)})
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["sensors/+/x"])}),
                timeout=h.WAIT + SLOW_MS / 1000)

    since = shadow.obs.mark()
    token = h.unique("slow-")
    shadow.send("update", {"state": {"desired": {"k": 1}}, "clientToken": token}, name="slow")
    answered = [edge.send("sensors/+/x", {"n": index}, "echo", timeout=SLOW_MS / 1000 / 2) for index in range(40)]
    assert [a["result"]["echo"]["n"] for a in answered] == list(range(40))
    # All 40 were answered while the update's save was still in flight: its reply has not come yet.
    accepted_topic = prefix(edge.thing, "slow") + "/update/accepted"
    assert not shadow.obs.seen(accepted_topic, since=since), \
        "the shadow update was answered before its (slowed) save could have finished"
    accepted = shadow.obs.wait_for(accepted_topic, lambda m: m.json.get("clientToken") == token, since=since,
                                   timeout=h.WAIT + 2 * SLOW_MS / 1000, what="the shadow update accepted once saved").json
    assert accepted["version"] == 1 and accepted["state"] == {"desired": {"k": 1}}
    # It was saved before it was accepted: a get (served after the save) sees it.
    assert shadow.get(name="slow")["state"]["desired"] == {"k": 1}


def test_the_io_worker_sleeps_when_it_has_nothing_to_do(agent, edge, shadow, echo_bin):
    """Once its lanes have run work (a download, a save, a cgroup kill), an idle agent uses
    next to no CPU: a lane waits for work, it does not spin."""
    started = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["sensors/+/x"])}))
    shadow.accepted("update", {"state": {"desired": {"k": 1}}}, name="idle")
    edge.send("sensors/+/x", {"n": 1}, "echo")
    before = h.cpu_seconds(started.pid)
    time.sleep(1.0)  # a measurement window, not a wait for an event
    used = h.cpu_seconds(started.pid) - before
    assert used < 0.3, "the idle agent used %.2f s of CPU in 1 s: a thread is spinning" % used
