"""Checks the digits function without the agent: init with a stub context, then the handler."""

import hashlib
import json
import logging
import os

import pytest

import classifier

HERE = os.path.dirname(os.path.abspath(__file__))


class StubContext:
    function_name = "digits"
    function_version = "1.0.0"
    thing_name = "test"
    invocation_id = "test-1"
    topic = "sensors/cam1/digits"
    config = {}
    logger = logging.getLogger("digits")

    def get_remaining_time_in_millis(self):
        return 3000

    def publish(self, topic, payload, qos=0, retain=False):
        raise AssertionError("the classifier does not publish")


@pytest.fixture(scope="module")
def context():
    context = StubContext()
    classifier.init(context)
    return context


def load_heldout():
    with open(os.path.join(HERE, "heldout.json")) as f:
        return json.load(f)


def test_heldout_accuracy(context):
    samples = load_heldout()
    correct = 0
    for i, sample in enumerate(samples):
        result = classifier.handler({"id": i, "pixels": sample["pixels"]}, context)
        assert result["id"] == i
        assert isinstance(result["digit"], int) and 0.0 <= result["probability"] <= 1.0
        correct += result["digit"] == sample["label"]
    accuracy = correct / len(samples)
    print("held-out accuracy through the handler: %d/%d = %.2f%%" % (correct, len(samples), 100 * accuracy))
    assert accuracy >= 0.90


def test_result_is_plain_json(context):
    sample = load_heldout()[0]
    result = classifier.handler(sample["pixels"], context)  # a bare list works too
    assert set(result) == {"digit", "probability"}
    assert json.loads(json.dumps(result)) == result  # no numpy types leak out


@pytest.mark.parametrize("event, message", [
    ({"pixels": [0] * 63}, "must have 64 values (8x8), got 63"),
    ({"pixels": [0] * 63 + [17]}, "pixel 63 is 17; each pixel must be a number from 0 to 16"),
    ({"pixels": [0] * 10 + [-1] + [0] * 53}, "pixel 10 is -1"),
    ({"pixels": ["0"] * 64}, "pixel 0 is '0'"),
    ({"pixels": [True] * 64}, "pixel 0 is True"),
    ({"pixels": [float("nan")] * 64}, "pixel 0 is nan"),
    ({"pixels": "abc"}, "must be a list of 64 numbers"),
    ({"image": [0] * 64}, "no \"pixels\" field"),
    (None, "must be a list of 64 numbers"),
    (b"\x00\x01", "non-JSON payload"),
])
def test_bad_input_raises_value_error(context, event, message):
    with pytest.raises(ValueError) as raised:
        classifier.handler(event, context)
    assert message in str(raised.value)


def test_deployment_hashes_match_the_artifacts():
    with open(os.path.join(HERE, "deployment.json")) as f:
        deployment = json.load(f)
    for artifact in deployment["functions"]["digits"]["artifacts"]:
        name = artifact["uri"].rsplit("/", 1)[-1]
        with open(os.path.join(HERE, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert artifact["sha256"] == digest, "%s changed: run `python3 train.py --hashes-only`" % name
