"""Streams simulated sensor readings to the deployed `anomaly` function and scores its alerts.

Three simulated sensors (a seeded RNG: the same stream every run) send a slow drift plus bounded
noise, with anomalies injected at known readings: "small" ones (6-8 noise sigmas) and "large"
ones (20-26). The stream is sent twice:

  A. with the threshold at --low (4.0) set through the classic shadow: every injected anomaly
     must be alerted on alerts/<sensor>, and nothing else;
  B. with the threshold raised to --high (12.0) through the shadow, live: only the large ones.

Before each phase it updates $aws/things/<thing>/shadow/update with
{"state": {"desired": {"functions": {"anomaly": {"config": {"threshold": X}}}}}} and waits until
the classic shadow's `reported` and the function's own shadow (what the detector uses) show X.
It checks through the retained health report that the function's process is the same at the
end (no restart), and finally removes its override (null) so the deployment's value is back.

Readings go to sensors/<sensor>/readings (QoS 1) with at most --inflight unanswered, so the
function's queue never overflows. Exits 1 if precision or recall is below 90% in a phase,
if phase B alerts as often as phase A, if answers are missing at --timeout, or if the function
was restarted; 2 if the broker is unreachable.

  python3 demo_client.py --host localhost --port 1883 --thing dev1 [--count 200] [--timeout 60]
"""

import argparse
import json
import math
import os
import random
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt

BAR = 0.90  # the precision and recall each phase must reach

# (name, level, noise sigma): a temperature, a humidity, a supply voltage.
SENSORS = (("s1", 21.0, 0.3), ("s2", 55.0, 1.2), ("s3", 3.3, 0.05))
WARM_UP = 40          # readings per sensor before the first injected anomaly (minSamples is 30)
ANOMALY_RATE = 0.04   # chance that a reading after the warm-up is an injected anomaly


def simulate(count, seed=7):
    """`count` readings per sensor, interleaved, as dicts {"sensor", "value", "index", "kind"}:
    kind is None for a normal reading, "small" or "large" for an injected anomaly. Deterministic:
    the same (count, seed) gives the same stream."""
    rng = random.Random(seed)
    readings = []
    for index in range(count):
        drift = math.sin(2 * math.pi * index / 500)  # slow, in sigmas: a day's cycle
        for name, level, sigma in SENSORS:
            # Bounded noise: a simulated sensor that never strays 4 sigmas by chance, so every
            # alert at the default threshold is an injected anomaly.
            noise = max(-2.5, min(2.5, rng.gauss(0.0, 1.0)))
            kind = None
            if index >= WARM_UP and rng.random() < ANOMALY_RATE:
                kind = rng.choice(("small", "large"))
                size = rng.uniform(6.0, 8.0) if kind == "small" else rng.uniform(20.0, 26.0)
                noise = rng.choice((-1.0, 1.0)) * size
            readings.append({"sensor": name, "value": round(level + sigma * (drift + noise), 5),
                             "index": index, "kind": kind})
    return readings


def reading_id(phase, reading):
    return "%s-%s-%04d" % (phase, reading["sensor"], reading["index"])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--thing", default="dev1", help="the agent's thing name")
    parser.add_argument("--count", type=int, default=200, help="readings per sensor and phase")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each wait may take")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--low", type=float, default=4.0, help="threshold of phase A")
    parser.add_argument("--high", type=float, default=12.0, help="threshold of phase B")
    parser.add_argument("--function", default="anomaly")
    parser.add_argument("--inflight", type=int, default=20, help="maximum unanswered readings")
    parser.add_argument("--cafile", help="CA certificate: connect with TLS")
    parser.add_argument("--cert", help="client certificate (with --key) for mutual TLS")
    parser.add_argument("--key")
    parser.add_argument("--username")
    parser.add_argument("--password")
    return parser.parse_args()


class Failed(Exception):
    """A wait ran out or the agent answered something unexpected; the message says which."""


class Demo:
    def __init__(self, args):
        self.args = args
        thing, function = args.thing, args.function
        self.results_topic = "edge/things/%s/functions/%s/results" % (thing, function)
        self.health_topic = "edge/things/%s/health" % thing
        self.classic = "$aws/things/%s/shadow" % thing
        self.named = "%s/name/%s" % (self.classic, function)
        self.connected = threading.Event()
        self.connect_error = None
        # Guards everything below; notified on every message.
        self.changed = threading.Condition()
        self.pending_subs = set()
        self.shadows = {}       # shadow prefix -> latest document seen (highest version)
        self.accepted = set()   # clientTokens of accepted shadow updates
        self.rejected = {}      # clientToken -> the rejection
        self.health = None      # (arrival counter, latest health report)
        self.health_arrivals = 0
        self.outstanding = {}   # reading id -> publish time
        self.answered = set()
        self.errors = []
        self.alerts = []        # (reading id or None, alert document)
        self.by_id = {}         # reading id -> reading of the current phase

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anomaly-demo-%d" % os.getpid())
        client.on_connect = self.on_connect
        client.on_subscribe = self.on_subscribe
        client.on_message = self.on_message
        if args.username:
            client.username_pw_set(args.username, args.password)
        if args.cafile:
            client.tls_set(ca_certs=args.cafile, certfile=args.cert, keyfile=args.key)
        self.client = client

    # --- MQTT callbacks (paho's network thread) -------------------------------------------

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.connect_error = str(reason_code)
        self.connected.set()

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.changed:
            self.pending_subs.discard(mid)
            self.changed.notify_all()

    def on_message(self, client, userdata, message):
        try:
            body = json.loads(message.payload)
        except ValueError:
            print("ignoring a non-JSON message on %s" % message.topic)
            return
        with self.changed:
            self.dispatch(message.topic, body)
            self.changed.notify_all()

    def dispatch(self, topic, body):
        if topic.startswith("alerts/"):
            self.record_alert(topic, body)
        elif topic == self.results_topic:
            self.record_result(body)
        elif topic == self.health_topic:
            self.health_arrivals += 1
            self.health = (self.health_arrivals, body)
        else:
            for prefix in (self.classic, self.named):
                if topic == prefix + "/get/accepted":
                    self.keep_shadow(prefix, body)
                elif topic == prefix + "/update/documents":
                    self.keep_shadow(prefix, body.get("current") or {})
                elif topic == prefix + "/update/accepted":
                    self.accepted.add(body.get("clientToken"))
                elif topic == prefix + "/update/rejected":
                    self.rejected[body.get("clientToken")] = body

    def keep_shadow(self, prefix, document):
        known = self.shadows.get(prefix)
        if known is None or document.get("version", 0) >= known.get("version", 0):
            self.shadows[prefix] = document

    def record_result(self, answer):
        if answer.get("status") != "ok":
            error = answer.get("error") or {}
            print("error  %s: %s" % (error.get("type"), error.get("message")))
            self.errors.append(error)
            if self.outstanding:  # an error names no reading: free the oldest slot
                self.outstanding.pop(next(iter(self.outstanding)))
            return
        reading = (answer.get("result") or {}).get("id")
        if reading in self.outstanding:
            self.outstanding.pop(reading)
            self.answered.add(reading)

    def record_alert(self, topic, alert):
        reading = self.by_id.get(alert.get("id"))
        if reading is None:
            note = "not from this phase's stream"
        elif reading["kind"] is None:
            note = "FALSE ALARM: a normal reading"
        else:
            note = "injected %s anomaly" % reading["kind"]
        print("ALERT %-10s %-12s value %9.4f  score %7.2f > %-5g %s"
              % (topic, alert.get("id"), alert.get("value", float("nan")), alert.get("score", float("nan")),
                 alert.get("threshold", float("nan")), note))
        self.alerts.append((alert.get("id"), alert))

    # --- waits: every one has a deadline ----------------------------------------------------

    def wait_until(self, condition, what, timeout=None):
        """Waits (holding the lock) until condition() is true; Failed names `what` at the deadline."""
        deadline = time.monotonic() + (self.args.timeout if timeout is None else timeout)
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed("timed out after %.0f s waiting for %s" % (self.args.timeout, what))
                self.changed.wait(left)

    def subscribe(self, *topics):
        with self.changed:
            for topic in topics:
                self.pending_subs.add(self.client.subscribe(topic, qos=1)[1])
        self.wait_until(lambda: not self.pending_subs, "SUBACKs for %s" % ", ".join(topics))

    # --- the classic shadow -----------------------------------------------------------------

    def set_threshold(self, value):
        """Sets the shadow's threshold override and returns once the agent reports it applied and
        the detector's own shadow shows the threshold it now uses. None removes the override
        (returns once the shadow accepted that)."""
        token = "anomaly-demo-%d-%s" % (os.getpid(), value)
        request = {"state": {"desired": {"functions": {self.args.function: {"config": {"threshold": value}}}}},
                   "clientToken": token}
        self.client.publish(self.classic + "/update", json.dumps(request), qos=1)
        self.wait_until(lambda: token in self.accepted or token in self.rejected,
                        "the classic shadow to accept the update")
        if token in self.rejected:
            raise Failed("the shadow update was rejected: %s" % json.dumps(self.rejected[token]))
        if value is None:
            return  # the deployment's value, whatever it is, is back

        def applied():
            config = self.reported(self.classic).get("functions", {}).get(self.args.function, {}).get("config", {})
            return config.get("threshold") == value
        self.refresh(self.classic, applied, "the classic shadow to report threshold %s" % value)
        reported = self.reported(self.classic)["functions"][self.args.function]["config"]
        print("classic shadow: reported.functions.%s.config = %s" % (self.args.function, json.dumps(reported)))
        self.refresh(self.named, lambda: self.reported(self.named).get("config", {}).get("threshold") == value,
                     "the function's own shadow to show threshold %s in use" % value)
        problems = self.reported(self.named).get("problems")
        if problems:
            print("the function reports problems: %s" % json.dumps(problems))

    def reported(self, prefix):
        return ((self.shadows.get(prefix) or {}).get("state") or {}).get("reported") or {}

    def refresh(self, prefix, condition, what):
        """Asks for the document (a get) until `condition` holds; update/documents may satisfy it
        sooner. The agent reports about 200 ms after applying, so a get can be early."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            self.client.publish(prefix + "/get", "", qos=1)
            try:
                self.wait_until(condition, what, timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                return
            except Failed:
                if time.monotonic() >= deadline:
                    raise Failed("timed out after %.0f s waiting for %s" % (self.args.timeout, what))

    def function_pid(self):
        """The function's pid from a fresh copy of the retained health report."""
        with self.changed:
            seen = self.health_arrivals
        self.client.unsubscribe(self.health_topic)
        self.subscribe(self.health_topic)  # a new subscription gets the retained report again
        self.wait_until(lambda: self.health_arrivals > seen, "the retained health report")
        with self.changed:
            function = self.health[1].get("functions", {}).get(self.args.function) or {}
        if function.get("state") != "RUNNING":
            raise Failed("health says the function is %s, not RUNNING" % function.get("state"))
        return function.get("pid")

    # --- a phase: the stream once, at one threshold ------------------------------------------

    def run_phase(self, phase, threshold, stream, expected_kinds):
        print("\n== phase %s: threshold %g, expecting alerts for the %s anomalies"
              % (phase, threshold, " and ".join(expected_kinds)))
        self.set_threshold(threshold)
        with self.changed:
            self.by_id = {reading_id(phase, r): r for r in stream}
            self.alerts, self.answered, self.errors = [], set(), []
        started = time.monotonic()
        for reading in stream:
            key = reading_id(phase, reading)
            self.wait_until(lambda: len(self.outstanding) < self.args.inflight,
                            "answers to the %d readings in flight" % self.args.inflight)
            with self.changed:
                self.outstanding[key] = time.monotonic()
            payload = {"sensor": reading["sensor"], "value": reading["value"], "id": key,
                       "ts": int(time.time() * 1000)}
            self.client.publish("sensors/%s/readings" % reading["sensor"], json.dumps(payload), qos=1)
        try:
            self.wait_until(lambda: not self.outstanding, "answers to every reading")
        except Failed as error:
            raise Failed("%s: %d of %d readings unanswered" % (error, len(self.outstanding), len(stream)))
        elapsed = time.monotonic() - started
        # Every alert is in: the agent publishes a reading's alert before its result, both at
        # QoS 1 on one connection, and the broker keeps that order for us.
        with self.changed:
            alerted = [key for key, _ in self.alerts]
            errors = len(self.errors)
        injected = {reading_id(phase, r) for r in stream if r["kind"] in expected_kinds}
        true_alerts = len(injected & set(alerted))
        precision = true_alerts / len(alerted) if alerted else (1.0 if not injected else 0.0)
        recall = true_alerts / len(injected) if injected else 1.0
        print("phase %s: %d readings in %.1f s, %d errors; %d alerts for %d expected anomalies: "
              "precision %.1f%%, recall %.1f%%"
              % (phase, len(stream), elapsed, errors, len(alerted), len(injected), 100 * precision, 100 * recall))
        return {"alerts": len(alerted), "precision": precision, "recall": recall, "errors": errors}

    def run(self):
        args = self.args
        try:
            self.client.connect(args.host, args.port, keepalive=30)
        except OSError as error:
            print("cannot connect to %s:%d: %s" % (args.host, args.port, error), file=sys.stderr)
            return 2
        # Many small packets each way: without TCP_NODELAY, Nagle's algorithm and the broker's
        # delayed ACKs add about 40 ms to an exchange.
        sock = self.client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        try:
            if not self.connected.wait(10) or self.connect_error:
                print("no MQTT connection: %s" % (self.connect_error or "timed out"), file=sys.stderr)
                return 2
            return self.exchange()
        except Failed as error:
            print("FAIL: %s" % error, file=sys.stderr)
            return 1
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def exchange(self):
        args = self.args
        # Subscribe before anything is sent, or early answers are lost.
        self.subscribe("alerts/#", self.results_topic,
                       *["%s/%s" % (prefix, suffix) for prefix in (self.classic, self.named)
                         for suffix in ("get/accepted", "update/accepted", "update/rejected", "update/documents")])
        pid_before = self.function_pid()
        print("function %s runs as pid %s" % (args.function, pid_before))

        stream = simulate(args.count, args.seed)
        kinds = [r["kind"] for r in stream]
        print("stream: %d sensors x %d readings, %d small and %d large anomalies injected (seed %d)"
              % (len(SENSORS), args.count, kinds.count("small"), kinds.count("large"), args.seed))
        low = self.run_phase("A", args.low, stream, ("small", "large"))
        high = self.run_phase("B", args.high, stream, ("large",))

        pid_after = self.function_pid()
        print("\nfunction %s runs as pid %s (before: %s)" % (args.function, pid_after, pid_before))
        print("alerts: %d at threshold %g, %d at threshold %g: the threshold changed live"
              % (low["alerts"], args.low, high["alerts"], args.high))
        self.set_threshold(None)  # leave the deployment's threshold in force
        print("removed the shadow's threshold override")

        failures = []
        for name, phase in (("A", low), ("B", high)):
            if phase["precision"] < BAR or phase["recall"] < BAR:
                failures.append("phase %s: precision %.1f%% or recall %.1f%% below %.0f%%"
                                % (name, 100 * phase["precision"], 100 * phase["recall"], 100 * BAR))
            if phase["errors"]:
                failures.append("phase %s: %d readings answered with an error" % (name, phase["errors"]))
        if high["alerts"] >= low["alerts"]:
            failures.append("raising the threshold did not reduce the alerts")
        if pid_after != pid_before:
            failures.append("the function was restarted (pid %s, then %s)" % (pid_before, pid_after))
        for failure in failures:
            print("FAIL: %s" % failure, file=sys.stderr)
        return 1 if failures else 0


def main():
    args = parse_args()
    if args.count < WARM_UP + 10:
        sys.exit("--count must be at least %d: anomalies are injected after %d readings" % (WARM_UP + 10, WARM_UP))
    if args.inflight < 1:
        sys.exit("--inflight must be at least 1")
    if not 0 < args.low < args.high:
        sys.exit("--low must be above 0 and below --high")
    return Demo(args).run()


if __name__ == "__main__":
    sys.exit(main())
