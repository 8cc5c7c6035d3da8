"""Checks the anomaly function without the agent: a stub context records what it publishes and
reports, and the module is reloaded for each test so no sensor state leaks between them."""

import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import random

import numpy as np
import pytest

import detector

HERE = os.path.dirname(os.path.abspath(__file__))


class StubShadow:
    def __init__(self):
        self.reported = []

    def update(self, reported=None, desired=None, version=None, client_token=None):
        self.reported.append(reported)
        return {"state": {"reported": reported}}


class StubContext:
    """What the runtime gives a handler, recording publishes and the function's shadow updates."""

    function_name = "anomaly"
    function_version = "1.0.0"
    thing_name = "test"
    invocation_id = "test-1"

    def __init__(self, config=None, topic="sensors/s1/readings"):
        self.config = dict(config or {})
        self.topic = topic
        self.logger = logging.getLogger("anomaly")
        self.shadow = StubShadow()
        self.published = []

    def get_remaining_time_in_millis(self):
        return 3000

    def publish(self, topic, payload, qos=0, retain=False):
        json.dumps(payload, allow_nan=False)  # the runtime would refuse what is not JSON
        self.published.append((topic, payload, qos))

    def reconfigure(self, **changes):
        """What the runtime does for a `config` message: replace context.config in place, then
        call on_config."""
        new = dict(self.config, **changes)
        self.config.clear()
        self.config.update({k: v for k, v in new.items() if v is not None})
        detector.on_config(self.config, self)


@pytest.fixture(autouse=True)
def fresh_module():
    importlib.reload(detector)


def started(config=None, **kwargs):
    context = StubContext(config, **kwargs)
    detector.init(context)
    return context


def normal_values(count, level=20.0, sigma=0.5, seed=1):
    """Bounded noise around `level`: never 3 sigmas away, so never anomalous at threshold 4."""
    rng = random.Random(seed)
    return [level + sigma * max(-2.5, min(2.5, rng.gauss(0, 1))) for _ in range(count)]


def feed(context, values, sensor="s1"):
    return [detector.handler({"sensor": sensor, "value": v}, context) for v in values]


# --- the model --------------------------------------------------------------------------------

def test_score_is_the_distance_from_the_median_in_robust_sigmas():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    median, scale = detector.robust_centre_and_scale(values)
    assert median == 3.0
    assert scale == pytest.approx(1.4826 * 1.0)  # deviations 2,1,0,1,97: MAD 1; the outlier does not count
    assert detector.robust_score(9.0, median, scale) == pytest.approx(6.0 / 1.4826)


def test_scale_falls_back_to_the_mean_deviation_and_a_flat_signal_scores_finitely():
    mostly_flat = np.array([5.0] * 6 + [6.0, 4.0])
    median, scale = detector.robust_centre_and_scale(mostly_flat)
    assert median == 5.0 and scale == pytest.approx(1.2533 * 2 / 8)  # MAD is 0: mean deviation
    flat = np.array([5.0] * 8)
    assert detector.robust_centre_and_scale(flat) == (5.0, 0.0)
    assert detector.robust_score(5.0, 5.0, 0.0) == 0.0
    assert detector.robust_score(5.1, 5.0, 0.0) == detector.MAX_SCORE


def test_gaussian_scores_match_z_scores():
    rng = np.random.default_rng(3)
    values = rng.normal(10.0, 2.0, 4000)
    median, scale = detector.robust_centre_and_scale(values)
    assert median == pytest.approx(10.0, abs=0.1) and scale == pytest.approx(2.0, rel=0.05)


def test_no_score_and_no_alert_during_warm_up():
    context = started({"minSamples": 10, "window": 20})
    results = feed(context, [20.0] * 9 + [1000.0])
    assert all(r["score"] is None and r["anomaly"] is False for r in results)
    assert context.published == []
    after = feed(context, [1000.0])[0]  # the 11th reading is scored (and the spike is now in the window)
    assert after["score"] is not None


def test_alerts_only_on_anomalies():
    context = started()
    values = normal_values(200)
    spikes = {60: 30.0, 120: 8.0, 170: 26.0}  # 20, 24 and 12 sigmas away
    for index, value in spikes.items():
        values[index] = value
    alerted = []
    for index, value in enumerate(values):
        result = detector.handler({"sensor": "t1", "value": value, "id": index, "ts": 1718000000000 + index},
                                  context)
        assert result["anomaly"] == (index in spikes), (index, result)
        assert result["id"] == index and result["sensor"] == "t1"
        if result["anomaly"]:
            alerted.append(index)
    assert alerted == sorted(spikes)
    assert [topic for topic, _, _ in context.published] == ["alerts/t1"] * 3
    topic, alert, qos = context.published[0]
    assert qos == 1
    assert alert["id"] == 60 and alert["value"] == 30.0 and alert["ts"] == 1718000000060
    assert alert["score"] > alert["threshold"] == 4.0
    assert alert["median"] == pytest.approx(20.0, abs=0.3) and alert["scale"] == pytest.approx(0.5, rel=0.3)
    assert alert["thing"] == "test" and alert["function"] == "anomaly"


def test_result_is_plain_json():
    context = started()
    result = feed(context, normal_values(40))[-1]
    assert set(result) == {"sensor", "score", "anomaly"}
    assert json.loads(json.dumps(result)) == result  # no numpy types leak out
    assert isinstance(result["score"], float) and result["anomaly"] is False


def test_sensors_are_scored_separately():
    context = started()
    feed(context, normal_values(50, level=20.0), sensor="cold")
    feed(context, normal_values(50, level=80.0), sensor="hot")
    # 80 is normal for "hot" and far off for "cold".
    assert feed(context, [80.0], sensor="hot")[0]["anomaly"] is False
    assert feed(context, [80.0], sensor="cold")[0]["anomaly"] is True
    assert [topic for topic, _, _ in context.published] == ["alerts/cold"]


def test_a_bare_number_takes_its_sensor_from_the_topic():
    context = started(topic="sensors/boiler-2/readings")
    for value in normal_values(40):
        assert detector.handler(value, context)["sensor"] == "boiler-2"
    detector.handler(99.0, context)
    assert context.published[-1][0] == "alerts/boiler-2"


def test_a_level_shift_becomes_the_new_normal():
    context = started({"window": 40, "minSamples": 20})
    feed(context, normal_values(60, level=20.0))
    shifted = feed(context, normal_values(60, level=40.0, seed=2))
    anomalies = [i for i, r in enumerate(shifted) if r["anomaly"]]
    assert anomalies and max(anomalies) < 25, "alerts should stop about half a window after the shift"


# --- configuration ----------------------------------------------------------------------------

def test_defaults_and_the_deployment_config_are_reported_in_the_function_shadow():
    context = started({"threshold": 5.5})
    assert detector._detector.settings == detector.Settings(5.5, 120, 30, 256)
    assert context.shadow.reported == [{"config": {"threshold": 5.5, "window": 120, "minSamples": 30,
                                                    "maxSensors": 256}, "problems": None}]


def test_the_threshold_changes_live_through_on_config():
    context = started()
    values = normal_values(100)
    feed(context, values)
    assert feed(context, [27.0])[0]["anomaly"] is True  # about 14 sigmas
    context.reconfigure(threshold=20.0)
    assert feed(context, [27.0])[0]["anomaly"] is False
    assert context.published[-1][1]["threshold"] == 4.0  # the one alert was under the old threshold
    assert context.shadow.reported[-1]["config"]["threshold"] == 20.0
    # null in the shadow: the key is gone from the config, so the default is back.
    context.reconfigure(threshold=None)
    assert feed(context, [27.0])[0]["anomaly"] is True


@pytest.mark.parametrize("bad, reason", [
    ("high", 'is "high"; it must be a number greater than 0 and at most 1000'),
    (-1, "is -1; it must be a number greater than 0"),
    (0, "is 0; it must be a number greater than 0"),
    (1e9, "is 1000000000.0; it must be a number greater than 0 and at most 1000"),
    (True, "is true; it must be a number"),
    ([5], "is [5]; it must be a number"),
])
def test_a_bad_threshold_keeps_the_old_one_and_is_reported(bad, reason, caplog):
    context = started({"threshold": 6.0})
    feed(context, normal_values(100))
    with caplog.at_level(logging.ERROR, logger="anomaly"):
        context.reconfigure(threshold=bad)  # must not raise
    assert detector._detector.settings.threshold == 6.0
    report = context.shadow.reported[-1]
    assert report["config"]["threshold"] == 6.0
    assert reason in report["problems"]["config.threshold"]
    assert report["problems"]["config.threshold"].endswith("keeping 6.0")
    assert "config.threshold" in caplog.text and reason in caplog.text
    assert feed(context, [20.0])[0]["anomaly"] is False  # still scoring
    # A good value afterwards clears the problem.
    context.reconfigure(threshold=7.0)
    assert context.shadow.reported[-1] == {"config": dict(report["config"], threshold=7.0), "problems": None}


def test_other_settings_are_validated_and_keys_that_break_a_rule_together_keep_their_values():
    settings, problems = detector.settings_from({"window": 10})  # below the default minSamples of 30
    assert settings == detector.DEFAULT_SETTINGS
    assert "minSamples (30) is more than window (10)" in problems["config.window"]
    settings, problems = detector.settings_from({"window": 50, "minSamples": 40.0, "maxSensors": 0,
                                                 "treshold": 3})
    assert settings == detector.Settings(4.0, 50, 40, 256)
    assert "whole number from 1 to 10000" in problems["config.maxSensors"]
    assert "not a setting of this function" in problems["config.treshold"]
    assert set(problems) == {"config.maxSensors", "config.treshold"}
    settings, problems = detector.settings_from({"window": 4096, "maxSensors": 10000})
    assert settings.window == 120 and settings.maxSensors == 256
    assert "32 MiB" in problems["config.window"]
    assert detector.settings_from({"window": 12.5})[1]["config.window"].startswith("is 12.5; it must be a whole number")


def test_an_invalid_deployment_config_still_starts_with_defaults():
    context = started({"threshold": "4"})
    assert detector._detector.settings.threshold == 4.0
    assert "config.threshold" in context.shadow.reported[-1]["problems"]


def test_reporting_failures_do_not_stop_the_detector():
    context = StubContext()

    def refuse(**_):
        raise RuntimeError("no agent here")
    context.shadow.update = refuse
    detector.init(context)
    context.reconfigure(threshold=5.0)
    assert detector._detector.settings.threshold == 5.0


# --- bounded memory ---------------------------------------------------------------------------

def test_the_ring_keeps_only_the_last_window_values():
    context = started({"window": 16, "minSamples": 4})
    feed(context, [float(i) for i in range(100)])
    window = detector._detector.windows["s1"]
    assert window.values.shape == (16,) and window.count == 16
    assert list(window.chronological()) == [float(i) for i in range(84, 100)]


def test_the_least_recently_heard_sensor_is_evicted():
    context = started({"maxSensors": 3})
    for sensor in ("a", "b", "c"):
        feed(context, [1.0], sensor=sensor)
    feed(context, [1.0], sensor="a")  # a is now the most recent; b the least
    result = feed(context, [1.0], sensor="d")
    assert list(detector._detector.windows) == ["c", "a", "d"]
    assert result[0]["sensor"] == "d"
    # b starts again from nothing: warming up.
    assert feed(context, [1.0], sensor="b")[0]["score"] is None
    assert len(detector._detector.windows) == 3


def test_shrinking_window_and_max_sensors_live():
    context = started({"window": 50, "minSamples": 10})
    for sensor in ("a", "b", "c", "d"):
        feed(context, [float(i) for i in range(50)], sensor=sensor)
    context.reconfigure(window=20, maxSensors=2)
    assert list(detector._detector.windows) == ["c", "d"]
    window = detector._detector.windows["d"]
    assert window.size == 20 and list(window.chronological()) == [float(i) for i in range(30, 50)]
    context.reconfigure(window=40)  # growing keeps what there is and fills up
    assert detector._detector.windows["d"].count == 20
    feed(context, [50.0], sensor="d")
    assert list(detector._detector.windows["d"].chronological())[-2:] == [49.0, 50.0]


# --- bad events -------------------------------------------------------------------------------

@pytest.mark.parametrize("event, topic, message", [
    ({"sensor": "s1"}, "sensors/s1/readings", 'the reading has no "value" field; send {"sensor": "s1", "value": 21.7}'),
    ({"sensor": "s1", "value": "21.7"}, "sensors/s1/readings", '"value" is "21.7" (a string); it must be a number'),
    ({"sensor": "s1", "value": None}, "sensors/s1/readings", '"value" is null (null); it must be a number'),
    ({"sensor": "s1", "value": True}, "sensors/s1/readings", '"value" is true (a boolean); it must be a number'),
    ({"sensor": "s1", "value": float("nan")}, "sensors/s1/readings", '"value" is NaN (a number); it must be a finite number'),
    ({"sensor": "s1", "value": math.inf}, "sensors/s1/readings", "it must be a finite number"),
    ({"sensor": "s1", "value": 10 ** 400}, "sensors/s1/readings", "it must be a finite number"),
    ({"value": 1.0}, "elsewhere/x", "no \"sensor\" field and its topic 'elsewhere/x' names none"),
    ({"sensor": "a/b", "value": 1.0}, "sensors/s1/readings", '"sensor" is "a/b" (a string); it must be a string of 1 to 64'),
    ({"sensor": "", "value": 1.0}, "sensors/s1/readings", '"sensor" is "" (a string)'),
    ({"sensor": 7, "value": 1.0}, "sensors/s1/readings", '"sensor" is 7 (a number)'),
    ({"sensor": "s1", "value": 1.0, "ts": "now"}, "sensors/s1/readings", '"ts" is "now" (a string); it must be the reading\'s time in milliseconds'),
    ({"sensor": "s1", "value": 1.0, "ts": -5}, "sensors/s1/readings", '"ts" is -5'),
    ([1.0, 2.0], "sensors/s1/readings", "or a bare number, got a list"),
    (None, "sensors/s1/readings", "or a bare number, got null"),
    (b"21.7C", "sensors/s1/readings", "got a non-JSON payload"),
])
def test_bad_events_raise_value_error(event, topic, message):
    context = started(topic=topic)
    with pytest.raises(ValueError) as raised:
        detector.handler(event, context)
    assert message in str(raised.value)
    assert detector._detector.windows.get("s1") is None or detector._detector.windows["s1"].count == 0


# --- the example's files ----------------------------------------------------------------------

def test_the_demo_stream_is_detected_exactly_at_both_thresholds():
    """The demo client's simulated stream, through the detector: at 4.0 every injected anomaly
    and nothing else, at 12.0 only the large ones (the demo's and end-to-end test's claims)."""
    pytest.importorskip("paho.mqtt.client")
    # By its path: examples/digits has a demo_client module too.
    spec = importlib.util.spec_from_file_location("anomaly_demo_client", os.path.join(HERE, "demo_client.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    stream = demo.simulate(200)
    kinds = [r["kind"] for r in stream]
    assert kinds.count("small") >= 5 and kinds.count("large") >= 5
    for threshold, expected in ((4.0, ("small", "large")), (12.0, ("large",))):
        context = started({"threshold": threshold})
        flagged = [detector.handler({"sensor": r["sensor"], "value": r["value"]}, context)["anomaly"]
                   for r in stream]
        assert flagged == [kind in expected for kind in kinds], "threshold %s" % threshold


def test_deployment_hash_matches_the_artifact():
    with open(os.path.join(HERE, "deployment.json")) as f:
        deployment = json.load(f)
    function = deployment["functions"]["anomaly"]
    assert function["handler"] == "detector.handler"
    for artifact in function["artifacts"]:
        assert artifact["uri"].startswith("file://__EXAMPLE_DIR__/")
        name = artifact["uri"].rsplit("/", 1)[-1]
        with open(os.path.join(HERE, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert artifact["sha256"] == digest, \
            "%s changed: put `sha256sum %s` in deployment.json" % (name, name)
    assert detector.settings_from(function["config"]) == (detector.DEFAULT_SETTINGS, {})
