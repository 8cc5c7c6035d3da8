"""The benchmarks' load generator (`edge-loadgen`, Sources/edge-loadgen) counts right: every request
it sends is answered and matched once, through the broker-only echo client and through the real
agent. Counts only: its timings are for scripts/bench.sh, never asserted here."""

import json
import select
import subprocess
from pathlib import Path

import pytest

import harness as h


@pytest.fixture(scope="module")
def loadgen(agent_bin):
    binary = Path(agent_bin).parent / "edge-loadgen"
    if not binary.exists():
        pytest.fail("%s is missing: build it with `swift build` (scripts/test.sh does)" % binary, pytrace=False)
    return binary


def drive(loadgen, port, *options):
    done = subprocess.run([str(loadgen), "run", "--port", str(port), "--drain", "10", *options],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_loadgen_through_the_baseline_echo(loadgen, broker):
    echo = subprocess.Popen([str(loadgen), "echo", "--port", str(broker.port), "--in", "lg/in", "--out", "lg/out",
                             "--qos", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([echo.stdout], [], [], 20)
        assert ready and echo.stdout.readline().strip() == "ready", "the echo client did not get ready within 20 s"
        counted = drive(loadgen, broker.port, "--topic", "lg/in", "--reply", "lg/out", "--qos", "1",
                        "--requests", "2000", "--window", "16")
        assert (counted["sent"], counted["received"], counted["errors"], counted["missing"]) == (2000, 2000, 0, 0), counted
        assert counted["latencyMs"]["count"] == 2000 and counted["latencyMs"]["p50"] > 0, counted
        paced = drive(loadgen, broker.port, "--topic", "lg/in", "--reply", "lg/out", "--qos", "1",
                      "--rate", "400", "--warmup", "0.5", "--seconds", "1")
        assert (paced["sent"], paced["received"], paced["missing"]) == (400, 400, 0), paced
    finally:
        echo.stdin.close()
        echo.wait(20)
    assert echo.returncode == 0


def test_loadgen_through_the_agent_counts_every_answer(loadgen, agent, broker, edge, echo_bin):
    agent()
    spec = h.native_function(echo_bin, subscriptions=(), queueSize=1000)
    spec["subscriptions"] = [{"topic": "lg/%d/in" % i, "qos": 0} for i in range(3)]
    spec["output"] = {"topic": "lg/out", "qos": 0}
    edge.deploy(h.document("lg-v1", 1, {"echo": spec}))
    counted = drive(loadgen, broker.port, "--topic", "lg/{i}/in",
                    "--topics", "3", "--reply", "lg/out", "--qos", "0", "--requests", "3000")
    assert (counted["sent"], counted["received"], counted["errors"], counted["missing"]) == (3000, 3000, 0, 0), counted
    edge.function_health("echo", lambda f: f["invocations"] >= 3000 and f["errors"] == 0,
                         what="3000 invocations, no error, in the echo function's health")
