"""The real digits example (ONNX classifier) deployed through MQTT and scored on held-out samples."""

import json

import harness as h

DIGITS = h.REPO / "examples" / "digits"
SAMPLES = 50


def test_digits_example_classifies_heldout_samples(agent, edge):
    agent()
    # The example's own document, unchanged but for the directory; its digests must still match.
    doc = h.example_deployment("digits")
    assert not h.stale_digests(doc), "deployment.json's sha256 is stale for %s" % h.stale_digests(doc)
    edge.deploy(doc, timeout=60)

    samples = json.loads((DIGITS / "heldout.json").read_text())[:SAMPLES]
    results_topic = edge.topics.results("digits")
    since = edge.obs.mark()
    for index, sample in enumerate(samples):
        edge.obs.publish("sensors/cam1/digits", json.dumps({"pixels": sample["pixels"], "id": index}))
    answers = edge.obs.wait_count(results_topic, lambda m: m.json["sourceTopic"] == "sensors/cam1/digits",
                                  SAMPLES, since=since, timeout=60, what="%d digit answers" % SAMPLES)
    by_id = {}
    for message in answers:
        body = message.json
        assert body["status"] == "ok", body
        assert body["version"] == "1.0.0"
        by_id[body["result"]["id"]] = body["result"]
    assert sorted(by_id) == list(range(SAMPLES)), "missing or duplicate answers: %s" % sorted(by_id)
    correct = sum(1 for index, sample in enumerate(samples) if by_id[index]["digit"] == sample["label"])
    assert correct >= 0.9 * SAMPLES, "only %d/%d correct through MQTT" % (correct, SAMPLES)
    assert all(0.0 <= r["probability"] <= 1.0 for r in by_id.values())

    # Bad input comes back as the handler's ValueError.
    bad = edge.send("sensors/+/digits", {"pixels": [17] * 64}, "digits")
    assert bad["status"] == "error" and bad["error"]["type"] == "ValueError", bad
    assert "pixel 0 is 17" in bad["error"]["message"], bad
