"""Sends the held-out digits through MQTT to the deployed `digits` function and scores the answers.

Publishes {"id": i, "pixels": [...]} to sensors/cam1/digits (QoS 1) and reads the agent's
result messages from edge/things/<thing>/functions/digits/results. At most --inflight requests
are outstanding at a time, so the function's queue is never flooded. Exits 1 if fewer answers
than requests arrive within --timeout seconds or accuracy is below 90%; 2 if the broker is
unreachable.

  python3 demo_client.py --host localhost --port 1883 --thing dev1 --count 100
"""

import argparse
import json
import math
import os
import socket
import statistics
import sys
import threading
import time

import paho.mqtt.client as mqtt

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--thing", default="dev1", help="the agent's thing name")
    parser.add_argument("--count", type=int, default=None, help="samples to send (default: all held-out)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for all answers")
    parser.add_argument("--topic", default="sensors/cam1/digits", help="where to publish samples")
    parser.add_argument("--function", default="digits")
    parser.add_argument("--inflight", type=int, default=10, help="maximum unanswered requests")
    parser.add_argument("--heldout", default=os.path.join(HERE, "heldout.json"))
    parser.add_argument("--cafile", help="CA certificate: connect with TLS")
    parser.add_argument("--cert", help="client certificate (with --key) for mutual TLS")
    parser.add_argument("--key")
    parser.add_argument("--username")
    parser.add_argument("--password")
    return parser.parse_args()


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Demo:
    def __init__(self, args, samples):
        self.args = args
        self.samples = samples
        self.results_topic = "edge/things/%s/functions/%s/results" % (args.thing, args.function)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connect_error = None
        # Guards everything below; notified on every answer.
        self.changed = threading.Condition()
        self.sent_at = {}      # outstanding request id -> monotonic time it was published
        self.answered = set()  # request ids with an ok answer
        self.errors = 0        # error answers (they name no request)
        self.correct = 0
        self.durations = []

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="digits-demo-%d" % os.getpid())
        client.on_connect = self.on_connect
        client.on_subscribe = self.on_subscribe
        client.on_message = self.on_message
        if args.username:
            client.username_pw_set(args.username, args.password)
        if args.cafile:
            client.tls_set(ca_certs=args.cafile, certfile=args.cert, keyfile=args.key)
        self.client = client

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.connect_error = str(reason_code)
            self.connected.set()
            return
        self.connected.set()
        client.subscribe(self.results_topic, qos=1)

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscribed.set()

    def on_message(self, client, userdata, message):
        try:
            answer = json.loads(message.payload)
        except ValueError:
            print("ignoring a non-JSON message on %s" % message.topic)
            return
        now = time.monotonic()
        with self.changed:
            if answer.get("status") == "ok":
                self.record_result(answer, now)
            else:
                # An error answer carries no request id (the function produced no result), so it
                # frees the oldest outstanding slot and counts as an unanswered-correctly request.
                error = answer.get("error") or {}
                print("error  %s: %s (invocation %s)" % (error.get("type"), error.get("message"),
                                                          answer.get("invocationId")))
                self.errors += 1
                if self.sent_at:
                    self.sent_at.pop(next(iter(self.sent_at)))
                self.add_duration(answer)
            self.changed.notify_all()

    def add_duration(self, answer):
        duration = answer.get("durationMs")
        if isinstance(duration, (int, float)):
            self.durations.append(duration)

    def record_result(self, answer, now):
        result = answer.get("result") or {}
        request = result.get("id")
        if not isinstance(request, int) or not 0 <= request < len(self.samples):
            print("ignoring an answer that matches no request: %s" % json.dumps(answer))
            return
        if request in self.answered:
            return  # QoS 1 is at-least-once: a redelivered answer
        self.answered.add(request)
        self.add_duration(answer)
        sent = self.sent_at.pop(request, None)
        actual = self.samples[request]["label"]
        ok = result.get("digit") == actual
        self.correct += ok
        rtt = "  (round trip %.1f ms)" % ((now - sent) * 1000) if sent is not None else ""
        print("#%-4d predicted %s (p=%.2f) actual %d %-4s %6.1f ms%s"
              % (request, result.get("digit"), result.get("probability", float("nan")), actual,
                 "ok" if ok else "MISS", answer.get("durationMs", float("nan")), rtt))

    def answer_count(self):
        return len(self.answered) + self.errors

    def run(self):
        args = self.args
        try:
            self.client.connect(args.host, args.port, keepalive=30)
        except OSError as error:
            print("cannot connect to %s:%d: %s" % (args.host, args.port, error), file=sys.stderr)
            return 2
        # Many small packets each way: without TCP_NODELAY, Nagle's algorithm and the broker's
        # delayed ACKs add about 40 ms to an exchange (a PUBLISH waits behind our last PUBACK).
        sock = self.client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        try:
            return self.exchange()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def exchange(self):
        args = self.args
        if not self.connected.wait(10) or self.connect_error:
            print("no MQTT connection: %s" % (self.connect_error or "timed out"), file=sys.stderr)
            return 2
        # Subscribe before publishing, or early answers are lost.
        if not self.subscribed.wait(10):
            print("no SUBACK for %s" % self.results_topic, file=sys.stderr)
            return 2

        total = len(self.samples)
        deadline = time.monotonic() + args.timeout
        next_request = 0
        while True:
            with self.changed:
                if self.answer_count() >= total:
                    break
                # Top up the window of outstanding requests.
                batch = []
                while next_request < total and len(self.sent_at) < args.inflight:
                    self.sent_at[next_request] = time.monotonic()
                    batch.append(next_request)
                    next_request += 1
                if not batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.changed.wait(left)
                    continue
            # Publish outside the lock: paho's network thread takes it in on_message.
            for request in batch:
                payload = json.dumps({"id": request, "pixels": self.samples[request]["pixels"]})
                self.client.publish(args.topic, payload, qos=1)
        with self.changed:
            answers, correct, durations = self.answer_count(), self.correct, list(self.durations)

        accuracy = correct / total if total else 0.0
        print()
        print("answers: %d/%d within %.0f s" % (answers, total, args.timeout))
        print("accuracy through MQTT: %d/%d = %.1f%%" % (correct, total, 100 * accuracy))
        if durations:
            print("durationMs: median %.2f ms, p99 %.2f ms"
                  % (statistics.median(durations), percentile(durations, 0.99)))
        if answers < total:
            print("FAIL: %d requests were not answered in time" % (total - answers), file=sys.stderr)
            return 1
        if accuracy < 0.90:
            print("FAIL: accuracy below 90%", file=sys.stderr)
            return 1
        return 0


def main():
    args = parse_args()
    with open(args.heldout) as f:
        samples = json.load(f)
    if args.count is not None:
        if args.count < 1:
            sys.exit("--count must be at least 1")
        samples = samples[:args.count]
    if args.inflight < 1:
        sys.exit("--inflight must be at least 1")
    return Demo(args, samples).run()


if __name__ == "__main__":
    sys.exit(main())
