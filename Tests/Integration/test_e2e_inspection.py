"""The inspection example end to end: the real PP-OCRv4 models read serial numbers from
synthetic camera frames sent over MQTT, in the real agent, under the example's own limits
(memory, CPU and pids caps in a cgroup), as the function user."""

import json
import subprocess
import sys

import harness as h

INSPECTION = h.REPO / "examples" / "inspection"
sys.path.insert(0, str(INSPECTION))
import frames  # noqa: E402  (the example's own renderer: the same frames the demo sends)
import scoring  # noqa: E402

FRAMES = 30
BATCH = 10
# Measured: 99/100 held-out frames exact (the miss reads a 0 as O), and 30/30 of these; the
# floor leaves room for a Pillow or FreeType that renders the glyphs a little differently.
EXACT_MATCH_FLOOR = 0.9


def prepare_models():
    """examples/inspection/prepare.py, as scripts/deploy-example.sh runs it."""
    result = subprocess.run([sys.executable, str(INSPECTION / "prepare.py")], capture_output=True, text=True,
                            timeout=120)
    h.require("not installed" not in result.stdout + result.stderr,
              "needs rapidocr-onnxruntime 1.4.4 in this interpreter for its models: run scripts/setup.sh")
    assert result.returncode == 0, "prepare.py failed:\n%s%s" % (result.stdout, result.stderr)


def require_pillow(python):
    """The function interpreter must import PIL as the function user (scripts/setup.sh puts it in)."""
    user = h.FUNCTION_USER if h.user_exists(h.FUNCTION_USER) else None
    check = subprocess.run([str(python), "-c", "import PIL"], capture_output=True, text=True, cwd="/", user=user,
                           timeout=60)
    h.require(check.returncode == 0, "the function interpreter %s cannot import PIL: run scripts/setup.sh "
              "(it rebuilds the venv from requirements-functions.txt)" % python)


def test_inspection_reads_serials_under_its_limits(agent, edge, python_launcher):
    h.require_cgroups(("memory", "cpu", "pids"))
    h.require_function_user()
    require_pillow(python_launcher)
    prepare_models()
    agent()
    doc = h.example_deployment("inspection")
    assert not h.stale_digests(doc), ("deployment.json's sha256 is stale for %s: run "
                                      "`python3 examples/inspection/prepare.py --hashes-only`" % h.stale_digests(doc))
    limits = doc["functions"]["inspection"]["limits"]
    edge.deploy(doc, timeout=90)

    rendered = frames.heldout(FRAMES)
    results_topic = edge.topics.results("inspection")
    read = {}
    # In batches: the function's queue (queueSize) is short, as a camera's should be.
    for start in range(0, FRAMES, BATCH):
        ids = {"f%d" % index for index in range(start, min(start + BATCH, FRAMES))}
        since = edge.obs.mark()
        for index in range(start, min(start + BATCH, FRAMES)):
            edge.obs.publish("cameras/cam1/frames", json.dumps(frames.event(rendered[index][0], "f%d" % index)))
        answers = edge.obs.wait_count(
            results_topic, lambda m: m.json["sourceTopic"] == "cameras/cam1/frames", len(ids), since=since,
            timeout=120, what="%d answers to frames %d.." % (len(ids), start))
        for message in answers:
            body = message.json
            assert body["status"] == "ok", body
            result = body["result"]
            assert result["id"] in ids, "an answer to no frame of this batch: %s" % result
            assert set(result) == {"id", "serial", "confidence", "box", "ms"}, result
            assert 0.0 <= result["confidence"] <= 1.0, result
            read[result["id"]] = result["serial"]
    predictions = [read.get("f%d" % index) for index in range(FRAMES)]
    truths = [truth for _, truth in rendered]
    exact = scoring.exact_match_rate(predictions, truths)
    print("inspection: exact match %d/%d, character accuracy %.3f"
          % (round(exact * FRAMES), FRAMES, scoring.mean_character_accuracy(predictions, truths)))
    misses = [(p, t) for p, t in zip(predictions, truths) if p != t]
    assert exact >= EXACT_MATCH_FLOOR, "exact match %.2f below %.2f; misses (read, truth): %s" % (
        exact, EXACT_MATCH_FLOOR, misses)

    # Under the example's limits: the cgroup's memory cap is the deployment's, and it held.
    usage = edge.function_health(
        "inspection", lambda f: f["usage"].get("memoryPeakBytes", 0) > 0, since=since,
        what="inspection's usage with its memory peak")["usage"]
    print("inspection: memory peak %.1f MiB of %d MiB, pids %s" % (usage["memoryPeakBytes"] / 2 ** 20,
                                                                   limits["memoryMB"], usage.get("pids")))
    assert usage["memoryLimitBytes"] == limits["memoryMB"] * 2 ** 20, usage
    assert usage["oomKills"] == 0 and usage["memoryPeakBytes"] <= usage["memoryLimitBytes"], usage

    # A bad frame is answered with a clear error, and the function goes on reading.
    bad = edge.send("cameras/+/frames", {"id": "bad", "frame": "not base64!"}, "inspection")
    assert bad["status"] == "error" and bad["error"]["type"] == "ValueError", bad
    assert "not valid base64" in bad["error"]["message"], bad
    huge = frames.Image.new("RGB", (1281, 8))
    bad = edge.send("cameras/+/frames", frames.event(huge, "huge"), "inspection")
    assert bad["status"] == "error" and "1281x8 pixels; at most 1280x1280" in bad["error"]["message"], bad
    good = edge.send("cameras/+/frames", frames.event(rendered[0][0], "again"), "inspection")
    assert good["status"] == "ok" and good["result"]["serial"] == predictions[0], good
    fn = edge.function_health("inspection", lambda f: f["state"] == "RUNNING", what="inspection RUNNING")
    assert fn["restarts"] == 0, fn
