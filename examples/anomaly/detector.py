"""The anomaly function: flags sensor readings that stray from each sensor's recent behaviour.

Deployed with "runtime": "python3", "handler": "detector.handler", subscribed to
sensors/+/readings. An event is {"sensor": "s1", "value": 21.7, "ts": <ms, optional>,
"id": <optional>} or a bare number (the sensor is then the topic's second level,
sensors/<sensor>/readings). Each sensor keeps a ring buffer of its last `window` values; a
reading's score is its distance from the buffer's median in robust standard deviations
(1.4826 x the median absolute deviation). A score above `threshold` publishes an alert to
alerts/<sensor>; every reading returns {"sensor", "score", "anomaly"} (plus "id" when given).

The configuration (threshold, window, minSamples, maxSensors) comes from the deployment and can
change live from the classic shadow (on_config). A value that is not valid is not applied: the
old one stays, and the problem is logged and reported in the function's own named shadow
($aws/things/<thing>/shadow/name/<function>, reported.problems), so the function keeps running.
"""

import collections
import json
import math
import time

import numpy as np

DEFAULTS = {"threshold": 4.0, "window": 120, "minSamples": 30, "maxSensors": 256}

# What each key accepts, for validation and for the messages that explain a rejection.
RULES = {
    "threshold": (float, 0.0, 1000.0, "a number greater than 0 and at most 1000 (a robust z-score)"),
    "window": (int, 8, 4096, "a whole number from 8 to 4096 (readings kept per sensor)"),
    "minSamples": (int, 3, 4096, "a whole number from 3 to 4096, at most window (readings before scoring)"),
    "maxSensors": (int, 1, 10000, "a whole number from 1 to 10000 (sensors tracked at once)"),
}

# window x maxSensors float64 values must fit the function's memory limit with room to spare:
# 2^22 values are 32 MiB.
MAX_VALUES = 1 << 22

MAD_TO_SIGMA = 1.4826       # for normal data, 1.4826 x MAD estimates the standard deviation
MEAN_AD_TO_SIGMA = 1.2533   # sqrt(pi/2): the same for the mean absolute deviation
MAX_SCORE = 1e6             # a change in a perfectly flat signal: finite, so it stays valid JSON

SENSOR_MAX_LENGTH = 64


class Settings(collections.namedtuple("Settings", ["threshold", "window", "minSamples", "maxSensors"])):
    def as_config(self):
        return dict(self._asdict())


DEFAULT_SETTINGS = Settings(**DEFAULTS)


def _checked(key, raw):
    """`raw` as the key's type if it is valid, else None."""
    kind, low, high, _ = RULES[key]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None  # true is an int in Python; a threshold of true is a mistake, not 1
    if not math.isfinite(raw):
        return None
    if kind is int:
        if raw != int(raw):
            return None
        raw = int(raw)  # 120.0 from a JSON writer that prints every number as a float is fine
    else:
        raw = float(raw)
    if kind is float and not low < raw <= high:
        return None
    if kind is int and not low <= raw <= high:
        return None
    return raw


def settings_from(config, current=DEFAULT_SETTINGS):
    """(Settings, problems) for a configuration dict. An absent or null key takes its default; an
    invalid one keeps its value in `current`, and `problems` maps "config.<key>" to what is wrong
    and the fix. Keys that break a rule together (minSamples above window) keep their current
    values."""
    config = config if isinstance(config, dict) else {}
    values = {}
    problems = {}
    for key in RULES:
        raw = config.get(key)
        if raw is None:
            values[key] = DEFAULTS[key]
            continue
        value = _checked(key, raw)
        if value is None:
            values[key] = getattr(current, key)
            problems["config." + key] = "is %s; it must be %s; keeping %s" % (
                json_text(raw), RULES[key][3], json_text(values[key]))
        else:
            values[key] = value
    for key in sorted(set(config) - set(RULES)):
        problems["config." + key] = "is not a setting of this function (known: %s); ignored" % ", ".join(RULES)

    if values["minSamples"] > values["window"]:
        _keep_current(values, current, problems, ("minSamples", "window"),
                      "minSamples (%d) is more than window (%d): the detector could never score"
                      % (values["minSamples"], values["window"]))
    if values["window"] * values["maxSensors"] > MAX_VALUES:
        _keep_current(values, current, problems, ("window", "maxSensors"),
                      "window x maxSensors (%d x %d) is more than %d values (32 MiB); lower one of them"
                      % (values["window"], values["maxSensors"], MAX_VALUES))
    return Settings(**values), problems


def _keep_current(values, current, problems, keys, reason):
    """Puts back the current value of those of `keys` that changed (the current settings keep
    every rule, so the pair is consistent again)."""
    for key in keys:
        if values[key] != getattr(current, key):
            values[key] = getattr(current, key)
            problems.setdefault("config." + key, "%s; keeping %s" % (reason, json_text(values[key])))


class SensorWindow:
    """The last `size` values of one sensor, in a fixed numpy ring buffer."""

    __slots__ = ("values", "count", "next")

    def __init__(self, size):
        self.values = np.empty(size, dtype=np.float64)
        self.count = 0  # values held, up to size
        self.next = 0   # where the next value goes

    @property
    def size(self):
        return len(self.values)

    def add(self, value):
        self.values[self.next] = value
        self.next = (self.next + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def held(self):
        """The values held, in no particular order (medians do not care)."""
        return self.values[:self.count] if self.count < self.size else self.values

    def chronological(self):
        if self.count < self.size:
            return self.values[:self.count]
        return np.roll(self.values, -self.next)

    def resized(self, size):
        """A window of `size` holding the most recent of these values."""
        window = SensorWindow(size)
        for value in self.chronological()[-size:]:
            window.add(value)
        return window


Observation = collections.namedtuple("Observation", ["score", "anomaly", "median", "scale", "evicted"])


class Detector:
    """One rolling model per sensor, at most `maxSensors` of them (the least recently heard from
    is evicted first), each at most `window` values."""

    def __init__(self, settings=DEFAULT_SETTINGS):
        self.settings = settings
        self.windows = collections.OrderedDict()  # sensor -> SensorWindow, least recent first

    def reconfigure(self, settings):
        """Applies new settings to the models already built: resizes their windows (keeping the
        most recent values) and evicts sensors beyond maxSensors. Returns the evicted sensors."""
        if settings.window != self.settings.window:
            for sensor, window in self.windows.items():
                self.windows[sensor] = window.resized(settings.window)
        evicted = []
        while len(self.windows) > settings.maxSensors:
            evicted.append(self.windows.popitem(last=False)[0])
        self.settings = settings
        return evicted

    def observe(self, sensor, value):
        """Scores `value` against the sensor's window (before the value joins it), then adds it.
        The score is None while the window holds fewer than minSamples values."""
        evicted = None
        window = self.windows.get(sensor)
        if window is None:
            if len(self.windows) >= self.settings.maxSensors:
                evicted = self.windows.popitem(last=False)[0]
            window = self.windows[sensor] = SensorWindow(self.settings.window)
        else:
            self.windows.move_to_end(sensor)

        score = median = scale = None
        if window.count >= self.settings.minSamples:
            median, scale = robust_centre_and_scale(window.held())
            score = robust_score(value, median, scale)
        # Anomalies join the window too: the median and MAD shrug off a few outliers, and a
        # lasting level shift becomes the new normal after about half a window.
        window.add(value)
        anomaly = score is not None and score > self.settings.threshold
        return Observation(score, anomaly, median, scale, evicted)


def robust_centre_and_scale(values):
    """(median, robust standard deviation). The MAD is 0 when more than half the values are
    equal (a quantised or idle sensor); the mean absolute deviation is the fallback, and 0 only
    when every value is the same."""
    median = float(np.median(values))
    deviations = np.abs(values - median)
    scale = MAD_TO_SIGMA * float(np.median(deviations))
    if scale == 0.0:
        scale = MEAN_AD_TO_SIGMA * float(np.mean(deviations))
    return median, scale


def robust_score(value, median, scale):
    distance = abs(value - median)
    if scale == 0.0:
        return 0.0 if distance == 0.0 else MAX_SCORE
    return min(distance / scale, MAX_SCORE)


Reading = collections.namedtuple("Reading", ["sensor", "value", "ts", "id"])

EXAMPLE = '{"sensor": "s1", "value": 21.7}'


def parse_reading(event, topic):
    """The Reading in an event; ValueError names the field and the fix."""
    if isinstance(event, (bytes, bytearray)):
        raise ValueError("expected a JSON reading like %s or a bare number, got a non-JSON payload" % EXAMPLE)
    if _is_number(event):
        event = {"value": event}
    if not isinstance(event, dict):
        raise ValueError("expected a reading like %s or a bare number, got %s" % (EXAMPLE, _kind(event)))

    if "value" not in event:
        raise ValueError("the reading has no \"value\" field; send %s" % EXAMPLE)
    raw = event["value"]
    if not _is_number(raw):
        raise ValueError("\"value\" is %s; it must be a number, like %s" % (_describe(raw), EXAMPLE))
    if not _finite(raw):
        raise ValueError("\"value\" is %s; it must be a finite number, like %s" % (_describe(raw), EXAMPLE))

    sensor = event.get("sensor")
    if sensor is None:
        sensor = sensor_from_topic(topic)
        if sensor is None:
            raise ValueError("the reading has no \"sensor\" field and its topic %r names none; send %s, "
                             "or publish it on sensors/<sensor>/readings" % (topic, EXAMPLE))
    elif not _valid_sensor(sensor):
        raise ValueError("\"sensor\" is %s; it must be a string of 1 to %d characters without '/', '+' or '#' "
                         "(it names the topic alerts/<sensor>)" % (_describe(sensor), SENSOR_MAX_LENGTH))

    ts = event.get("ts")
    if ts is not None and not (_is_number(ts) and _finite(ts) and ts >= 0):
        raise ValueError("\"ts\" is %s; it must be the reading's time in milliseconds since the epoch "
                         "(e.g. 1718000000000), or left out" % _describe(ts))
    return Reading(sensor, float(raw), ts, event.get("id"))


def sensor_from_topic(topic):
    """The <sensor> of sensors/<sensor>/..., or None."""
    parts = (topic or "").split("/")
    if len(parts) >= 3 and parts[0] == "sensors" and _valid_sensor(parts[1]):
        return parts[1]
    return None


def _valid_sensor(sensor):
    return (isinstance(sensor, str) and 1 <= len(sensor) <= SENSOR_MAX_LENGTH
            and not any(c in sensor for c in "/+#\0"))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(number):
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


JSON_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
              dict: "an object", type(None): "null"}


def _kind(value):
    return JSON_KINDS.get(type(value), "a " + type(value).__name__)


def _describe(value):
    text = json_text(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s (%s)" % (text, _kind(value))


def json_text(value):
    """How the sender wrote it, as near as Python can say: "abc" rather than 'abc', null, NaN."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


# --- the function --------------------------------------------------------------------------

_detector = None


def init(context):
    """Builds the detector from the deployment's configuration (with the shadow's overrides)."""
    global _detector
    _detector = Detector()
    _apply_config(context.config, context)


def on_config(config, context):
    """The classic shadow changed this function's configuration: apply what is valid, keep the
    rest. Never raises: the runtime would only log it, and the function must keep scoring."""
    if _detector is None:
        init(context)
    else:
        _apply_config(config, context)


def _apply_config(config, context):
    settings, problems = settings_from(config, _detector.settings)
    evicted = _detector.reconfigure(settings)
    for key, problem in sorted(problems.items()):
        context.logger.error("%s %s", key, problem)
    context.logger.info("settings %s%s", settings.as_config(),
                        "; evicted %d sensors beyond maxSensors" % len(evicted) if evicted else "")
    # The agent reports the configuration it sent in the classic shadow; what the detector
    # actually uses, and why a value was refused, go in the function's own shadow.
    try:
        context.shadow.update(reported={"config": settings.as_config(), "problems": problems or None})
    except Exception as error:  # reporting must never stop the detector: the log has it all
        context.logger.warning("could not report to the function's shadow: %s", error)


def handler(event, context):
    if _detector is None:  # imported without the runtime calling init()
        init(context)
    reading = parse_reading(event, context.topic)
    observation = _detector.observe(reading.sensor, reading.value)
    if observation.evicted is not None:
        context.logger.info("forgot sensor %s: more than maxSensors (%d) sensors",
                            observation.evicted, _detector.settings.maxSensors)
    result = {"sensor": reading.sensor,
              "score": None if observation.score is None else round(observation.score, 3),
              "anomaly": observation.anomaly}
    if reading.id is not None:
        result["id"] = reading.id
    if observation.anomaly:
        context.publish("alerts/" + reading.sensor, alert(reading, observation, context), qos=1)
    return result


def alert(reading, observation, context):
    document = {
        "sensor": reading.sensor,
        "value": reading.value,
        "score": round(observation.score, 3),
        "threshold": _detector.settings.threshold,
        "median": observation.median,
        "scale": observation.scale,
        "ts": reading.ts if reading.ts is not None else int(time.time() * 1000),
        "thing": context.thing_name,
        "function": context.function_name,
    }
    if reading.id is not None:
        document["id"] = reading.id
    return document
