"""Sends events to the deployed native `echo` function and checks every answer.

Publishes {"id": i, "hello": "edge"} to test/echo (QoS 1), one request in flight at a time,
and reads the agent's results from edge/things/<thing>/functions/echo/results: each must be
status ok with the event echoed back. Then one {"fail": true} must come back as an EchoFailure
error. Prints the round trip (publish to result, as this client sees it) and the agent's own
durationMs. Exits 1 if an answer is wrong or missing after --timeout seconds, 2 if the broker
is unreachable.

  python3 demo_client.py --host localhost --port 1883 --thing dev1 --count 200
"""

import argparse
import json
import queue
import socket
import statistics
import sys
import time

import paho.mqtt.client as mqtt


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--thing", default="dev1", help="the agent's thing name")
    parser.add_argument("--count", type=int, default=200, help="events to send")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    parser.add_argument("--topic", default="test/echo", help="the function's subscription")
    parser.add_argument("--function", default="echo")
    return parser.parse_args()


def main():
    args = parse_args()
    answers = queue.Queue()
    results = "edge/things/%s/functions/%s/results" % (args.thing, args.function)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="echo-demo-%d" % time.monotonic_ns(),
                         protocol=mqtt.MQTTv5)
    subscribed = queue.Queue()

    def on_connect(client, userdata, flags, reason_code, properties):
        # Small requests must not wait for Nagle's algorithm meeting the broker's delayed ACK.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(results, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *a: subscribed.put(True)
    client.on_message = lambda c, u, m: answers.put((time.monotonic(), json.loads(m.payload)))
    try:
        client.connect(args.host, args.port, keepalive=30)
    except OSError as error:
        print("cannot reach the broker at %s:%d: %s" % (args.host, args.port, error), file=sys.stderr)
        return 2
    client.loop_start()
    try:
        subscribed.get(timeout=args.timeout)
        round_trips, durations = [], []
        for i in range(args.count + 1):
            event = {"id": i, "hello": "edge"} if i < args.count else {"id": i, "fail": True}
            sent = time.monotonic()
            client.publish(args.topic, json.dumps(event), qos=1)
            # One request in flight: the next result from this topic is its answer.
            while True:
                received, answer = answers.get(timeout=args.timeout)
                if answer.get("sourceTopic") == args.topic:
                    break
            if event.get("fail"):
                error = answer.get("error") or {}
                if error.get("type") != "EchoFailure":
                    print("expected an EchoFailure error for %s, got %s" % (event, answer), file=sys.stderr)
                    return 1
                print("{\"fail\": true} came back as %s: %s" % (error["type"], error.get("message")))
                continue
            if answer.get("status") != "ok" or (answer.get("result") or {}).get("echo") != event:
                print("event %s was answered with %s" % (event, answer), file=sys.stderr)
                return 1
            round_trips.append((received - sent) * 1000)
            durations.append(answer["durationMs"])
    except queue.Empty:
        print("no answer within %.0f s: is the echo function deployed on thing %s?" % (args.timeout, args.thing),
              file=sys.stderr)
        return 1
    finally:
        client.loop_stop()
        client.disconnect()
    ordered = sorted(round_trips)
    print("%d/%d events echoed; round trip median %.2f ms, p99 %.2f ms; the agent's durationMs median %.3f ms"
          % (len(round_trips), args.count, statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))],
             statistics.median(durations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
