"""What an end-to-end test drives: the observer, the thing's topics and the deployment helpers."""

import json

from .deployments import FINAL
from .topics import Topics, unique
from .waits import WAIT


class Edge:
    """The observer, the thing's topics and the deployment helpers of one test."""

    def __init__(self, observer, thing):
        self.obs = observer
        self.thing = thing
        self.topics = Topics(thing)

    def publish_deployment(self, doc, topic=None, raw=None):
        """Publishes a deployment retained with QoS 1 (`raw` bytes/str instead of a document)."""
        payload = raw if raw is not None else json.dumps(doc)
        self.obs.publish(topic or self.topics.deployment, payload, qos=1, retain=True)

    def deploy(self, doc, expect="SUCCEEDED", topic=None, timeout=WAIT):
        """Publishes `doc` and waits for its final status; asserts it is `expect`; returns it."""
        since = self.obs.mark()
        self.publish_deployment(doc, topic=topic)
        status = self.final_status(doc["deploymentId"], doc["revision"], since=since, timeout=timeout)
        assert status["status"] == expect, "deployment %s r%s ended %s, expected %s: %s" % (
            doc["deploymentId"], doc["revision"], status["status"], expect, json.dumps(status, indent=1))
        return status

    def final_status(self, deployment_id, revision, since=0, timeout=WAIT):
        message = self.obs.wait_for(
            self.topics.status,
            lambda m: m.json["deploymentId"] == deployment_id and m.json["revision"] == revision
            and m.json["status"] in FINAL,
            timeout=timeout, since=since,
            what="a final deployment status for %s revision %s" % (deployment_id, revision))
        return message.json

    def health(self, predicate, timeout=WAIT, what="a health report", since=0):
        return self.obs.wait_for(self.topics.health, lambda m: predicate(m.json), timeout=timeout,
                                 since=since, what=what).json

    def function_health(self, fn, predicate=lambda f: True, timeout=WAIT, what=None, since=0):
        report = self.health(lambda h: h["status"] == "online" and predicate(h["functions"][fn]), timeout=timeout,
                             what=what or "health of function %s" % fn, since=since)
        return report["functions"][fn]

    def event(self, type_, predicate=lambda e: True, timeout=WAIT, since=0):
        return self.obs.wait_for(self.topics.events, lambda m: m.json["type"] == type_ and predicate(m.json),
                                 timeout=timeout, since=since, what="event %s" % type_).json

    def send(self, topic_template, event, fn, timeout=WAIT, qos=1):
        """Publishes `event` on a topic made unique from `topic_template` ('+' replaced by a nonce)
        and waits for the function's result for exactly that source topic."""
        topic = topic_template.replace("+", unique("e"), 1)
        assert topic != topic_template, "the template needs a '+' to make the topic unique"
        since = self.obs.mark()
        payload = event if isinstance(event, (bytes, str)) else json.dumps(event)
        self.obs.publish(topic, payload, qos=qos)
        return self.obs.wait_for(self.topics.results(fn), lambda m: m.json["sourceTopic"] == topic,
                                 timeout=timeout, since=since,
                                 what="the result of %s for an event on %s" % (fn, topic)).json
