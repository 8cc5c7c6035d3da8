"""Sends synthetic camera frames through MQTT to the deployed `inspection` function and scores
the serial numbers it reads.

Renders --count frames (frames.py, held-out seed), publishes {"id": "f<i>", "frame": base64 PNG}
to cameras/cam1/frames (QoS 1) and reads the agent's result messages from
edge/things/<thing>/functions/inspection/results. At most --inflight requests are outstanding
at a time. Prints each answer against the truth, then the exact-match rate, the character
accuracy (1 - edit distance / length) and the round trip's p50 and p99. Exits 1 if answers are
missing after --timeout seconds or exact match is below --floor; 2 if the broker is unreachable.

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

import frames
import scoring


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--thing", default="dev1", help="the agent's thing name")
    parser.add_argument("--count", type=int, default=100, help="frames to send")
    parser.add_argument("--seed", type=int, default=frames.HELDOUT_SEED, help="the frames' seed")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all answers")
    parser.add_argument("--topic", default="cameras/cam1/frames", help="where to publish frames")
    parser.add_argument("--function", default="inspection")
    parser.add_argument("--inflight", type=int, default=1,
                        help="maximum unanswered requests (1: the round trip is one frame's latency)")
    parser.add_argument("--floor", type=float, default=0.9, help="the lowest exact-match rate that passes")
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
    def __init__(self, args, events, truths):
        self.args = args
        self.events = events    # request index -> the event's JSON
        self.truths = truths    # request index -> the serial printed on the frame
        self.results_topic = "edge/things/%s/functions/%s/results" % (args.thing, args.function)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connect_error = None
        # Guards everything below; notified on every answer.
        self.changed = threading.Condition()
        self.sent_at = {}       # outstanding request index -> monotonic time it was published
        self.read = {}          # request index -> the serial read
        self.errors = 0         # error answers (they name no request)
        self.round_trips = []   # ms, publish to answer

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="inspection-demo-%d" % os.getpid())
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
        else:
            client.subscribe(self.results_topic, qos=1)
        self.connected.set()

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
                self.record_result(answer.get("result") or {}, now)
            else:
                # An error answer carries no request id, so it frees the oldest outstanding slot.
                error = answer.get("error") or {}
                print("error  %s: %s (invocation %s)" % (error.get("type"), error.get("message"),
                                                          answer.get("invocationId")))
                self.errors += 1
                if self.sent_at:
                    self.sent_at.pop(next(iter(self.sent_at)))
            self.changed.notify_all()

    def record_result(self, result, now):
        request_id = result.get("id")
        index = int(request_id[1:]) if isinstance(request_id, str) and request_id[1:].isdigit() else -1
        if not 0 <= index < len(self.events) or request_id != "f%d" % index:
            print("ignoring an answer that matches no request: %s" % json.dumps(result))
            return
        if index in self.read:
            return  # QoS 1 is at-least-once: a redelivered answer
        serial = result.get("serial")
        self.read[index] = serial
        sent = self.sent_at.pop(index, None)
        if sent is not None:
            self.round_trips.append((now - sent) * 1000)
        truth = self.truths[index]
        ms = result.get("ms") or {}
        print("%-5s read %-16s truth %-16s %-4s conf %.2f  det %5.1f ms  rec %5.1f ms%s"
              % (request_id, serial, truth, "ok" if serial == truth else "MISS", result.get("confidence", 0.0),
                 ms.get("det", float("nan")), ms.get("rec", float("nan")),
                 "  round trip %.0f ms" % ((now - sent) * 1000) if sent is not None else ""))

    def answer_count(self):
        return len(self.read) + self.errors

    def run(self):
        args = self.args
        try:
            self.client.connect(args.host, args.port, keepalive=30)
        except OSError as error:
            print("cannot connect to %s:%d: %s" % (args.host, args.port, error), file=sys.stderr)
            return 2
        # Without TCP_NODELAY, Nagle's algorithm and the broker's delayed ACKs add about 40 ms.
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
        total = len(self.events)
        deadline = time.monotonic() + args.timeout
        next_request = 0
        while True:
            with self.changed:
                if self.answer_count() >= total:
                    break
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
            for index in batch:
                self.client.publish(args.topic, self.events[index], qos=1)
        with self.changed:
            read, answers, round_trips = dict(self.read), self.answer_count(), list(self.round_trips)
        return self.report(read, answers, round_trips)

    def report(self, read, answers, round_trips):
        total = len(self.events)
        predictions = [read.get(index) for index in range(total)]
        exact = scoring.exact_match_rate(predictions, self.truths)
        characters = scoring.mean_character_accuracy(predictions, self.truths)
        print()
        print("answers: %d/%d within %.0f s" % (answers, total, self.args.timeout))
        print("exact match: %d/%d = %.1f%%" % (round(exact * total), total, 100 * exact))
        print("character accuracy: %.2f%%" % (100 * characters))
        if round_trips:
            print("round trip: p50 %.0f ms, p99 %.0f ms (%d frames, at most %d in flight)"
                  % (statistics.median(round_trips), percentile(round_trips, 0.99), len(round_trips),
                     self.args.inflight))
        if answers < total:
            print("FAIL: %d frames were not answered in time" % (total - answers), file=sys.stderr)
            return 1
        if exact < self.args.floor:
            print("FAIL: exact match below %.0f%%" % (100 * self.args.floor), file=sys.stderr)
            return 1
        return 0


def main():
    args = parse_args()
    if args.count < 1:
        sys.exit("--count must be at least 1")
    if args.inflight < 1:
        sys.exit("--inflight must be at least 1")
    print("rendering %d frames (seed %d)" % (args.count, args.seed))
    rendered = frames.frames(args.count, args.seed)
    events = [json.dumps(frames.event(image, "f%d" % index)) for index, (image, _) in enumerate(rendered)]
    truths = [truth for _, truth in rendered]
    return Demo(args, events, truths).run()


if __name__ == "__main__":
    sys.exit(main())
