"""Writes the edge-agent's symbol order file from a run of the real agent under callgrind.

The kernel maps a program's code 64 KiB at a time around each page it touches (fault-around), so
the agent's resident code is not what it runs but how widely what it runs is spread over its 5 MB
of text. Laid out by the linker in the order this file gives (lld's --symbol-ordering-file), the
functions the agent runs sit together at the front of its text, and the rest is never mapped.

The run: a real Mosquitto, the release agent under `valgrind --tool=callgrind`, 10 long-lived
native functions and one Python function deployed, events to each at QoS 0 and 1, a shadow
update and get, a redeployment, health reports, then SIGTERM. Every function of the agent's own
binary that ran is written, hottest first (instructions executed in it), one mangled name a
line. Run it through `bash scripts/agent-order.sh` (see docs/architecture.md, "Code layout").

usage: python3 scripts/agent-order.py AGENT_BIN ECHO_BIN OUT_FILE   (PYTHONPATH=Tests)
"""

import collections
import json
import re
import os
import shutil
import sys
import tempfile
from pathlib import Path

import harness as h

FUNCTIONS = 10
EVENTS = 40
# valgrind lets a process set RLIMIT_NOFILE only to the limit it gives it: 1012, the 1024 that
# scripts/agent-order.sh sets less the 12 descriptors valgrind keeps for itself.
LIMITS = {"openFiles": 1012}


def callgrind_args(out_file):
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out_file, "--demangle=no",
            "--compress-strings=no", "--compress-pos=no", "--dump-line=no", "--dump-instr=no"]


def self_costs(callgrind_file, binary):
    """{symbol: instructions executed in it} for the functions of `binary` (its path as valgrind
    names it) from a callgrind output written with the flags above."""
    costs = collections.Counter()
    obj = fn = None
    skip_next = False
    for line in open(callgrind_file, errors="replace"):
        line = line.rstrip("\n")
        if skip_next:
            skip_next = False
            continue
        if line.startswith("ob="):
            obj = line[3:]
        elif line.startswith("fn="):
            fn = re.sub(r"'\d+$", "", line[3:])  # callgrind's mark of a recursion depth
            if obj == binary:
                costs[fn] += 0
        elif line.startswith("calls="):
            skip_next = True  # the next line is the call's inclusive cost, not this function's
        elif line[:1].isdigit() and fn is not None and obj == binary:
            parts = line.split()
            if len(parts) >= 2:
                costs[fn] += int(parts[1])
    return costs


def exercise(agent_bin, echo_bin, work, out_file):
    broker = h.Broker(work / "broker").start()
    obs = h.Observer(broker.port).start()
    thing = h.unique("order")
    edge = h.Edge(obs, thing)
    state = h.shared_path(work / "state")
    agent = h.Agent(agent_bin, thing, broker.port, state, work / "agent.log", health_interval=2,
                    log_level="info", cgroups="off", python=h.function_python())
    agent.args = callgrind_args(out_file) + agent.args
    shadow = h.ShadowClient(broker.port, thing).start()
    try:
        agent.start()
        edge.health(lambda r: r["status"] == "online", timeout=120, what="the agent online under callgrind")
        module = h.write_module(work / "fn", "order_fn", "def handle(event, context):\n    return event\n")
        functions = {"echo%d" % i: h.native_function(echo_bin, subscriptions=["order/%d/+" % i], qos=i % 2,
                                                      limits=LIMITS)
                     for i in range(FUNCTIONS)}
        functions["py"] = h.python_function(module, "order_fn.handle", subscriptions=["order/py/+"], limits=LIMITS)
        edge.deploy(h.document("order", 1, functions), timeout=240)
        for name in functions:
            key = name[4:] if name.startswith("echo") else "py"
            since = obs.mark()
            for n in range(EVENTS):
                obs.publish("order/%s/e%d" % (key, n), json.dumps({"n": n, "pad": "x" * 32}), qos=n % 2)
            obs.wait_count(edge.topics.results(name), lambda m: True, EVENTS, timeout=120, since=since,
                           what="%d results of %s" % (EVENTS, name))
        shadow.accepted("update", {"state": {"reported": {"model": "v1"}, "desired": {"threshold": 3}}})
        shadow.get()
        functions["echo0"] = h.native_function(echo_bin, version="2", subscriptions=["order/0/+"], limits=LIMITS)
        edge.deploy(h.document("order", 2, functions), timeout=240)
        since = obs.mark()
        edge.health(lambda r: r["status"] == "online", timeout=60, since=since, what="a health report")
        agent.stop(timeout=120)
    finally:
        shadow.close()
        agent.cleanup(stop_timeout=0)
        obs.close()
        broker.stop()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: python3 scripts/agent-order.py AGENT_BIN ECHO_BIN OUT_FILE")
    agent_bin, echo_bin, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), Path(sys.argv[3])
    if shutil.which("valgrind") is None:
        sys.exit("agent-order: valgrind is not installed (apt-get install valgrind)")
    base = h.make_shared_base()
    work = h.begin_shared_test("agent-order")
    profile = Path(tempfile.mkdtemp(prefix="agent-order-")) / "callgrind.out"
    try:
        exercise(agent_bin, echo_bin, work, profile)
        costs = self_costs(profile, str(agent_bin))
    finally:
        h.end_shared_test()
        h.remove_shared_base()
    if len(costs) < 1000:
        sys.exit("agent-order: only %d functions of %s in the profile %s: is it the agent valgrind ran?"
                 % (len(costs), agent_bin, profile))
    ordered = sorted(costs, key=lambda name: (-costs[name], name))
    header = ("# The edge-agent's functions that run, hottest first: lld lays them out first in its text.\n"
              "# Written by `bash scripts/agent-order.sh`; see docs/architecture.md, \"Code layout\".\n")
    out.write_text(header + "\n".join(ordered) + "\n")
    shutil.rmtree(profile.parent, ignore_errors=True)
    print("agent-order: %d functions of %s ran (%d instructions); written to %s"
          % (len(ordered), agent_bin.name, sum(costs.values()), out))
    del base


if __name__ == "__main__":
    main()
