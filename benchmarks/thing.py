"""Deployments in a benchmark: a document checked by edgectl before anything runs, and what a
benchmark does with one agent's thing: deploy functions and wait until they are ready, undeploy
and wait until they are gone, read its health. Every wait has the benchmark's deadline and gives
up at once when the agent exits."""

import json
import subprocess
import time

from harness import FINAL, HarnessError, Observer, Topics, children_of, document, poll_until, tail

from .settings import BenchError


def validate(edgectl, doc, path, what, timeout):
    """The agent's own rules, through `edgectl validate`, on `doc` (written to `path`) before
    anything is published; `what` names the document in the failure, with where to fix it."""
    path.write_text(json.dumps(doc))
    checked = subprocess.run([edgectl, "validate", str(path)], capture_output=True, text=True, timeout=timeout)
    if checked.returncode != 0:
        raise BenchError("edgectl validate refused %s:\n%s%s" % (what, checked.stdout, checked.stderr))


def things_observer(port, timeout, name="bench"):
    """The benchmark's MQTT client for deployments: everything under edge/things/, recorded."""
    return Observer(port, name=name, filters=("edge/things/#",), for_load=True).start(timeout)


class Thing:
    """One agent's thing, seen through `observer` (see things_observer); `revision` is the last
    deployment revision published to it."""

    def __init__(self, observer, agent, timeout):
        self.observer = observer
        self.agent = agent
        self.timeout = timeout
        self.topics = Topics(agent.thing)
        self.revision = 0

    def deploy(self, deployment_id, functions, expect_ready):
        """Publishes a deployment and waits for its `SUCCEEDED` and for `expect_ready` ready events.
        Returns (the ready events, seconds from publish to the last ready event seen)."""
        self.agent.check_alive()
        self.revision += 1
        revision = self.revision
        doc = document(deployment_id, revision, functions, onFailure="none")
        since = self.observer.mark()
        sent = time.monotonic()
        self.observer.publish(self.topics.deployment, json.dumps(doc), qos=1, retain=True)
        try:
            status = self.observer.wait_for(
                self.topics.status,
                lambda m: m.json["deploymentId"] == deployment_id and m.json["revision"] == revision
                and m.json["status"] in FINAL,
                self.timeout, "the final status of deployment %s revision %d on %s"
                % (deployment_id, revision, self.agent.name), since, check=self.agent.check_alive).json
            if status["status"] != "SUCCEEDED":
                raise BenchError("deployment %s revision %d on %s ended %s: %s"
                                 % (deployment_id, revision, self.agent.name, status["status"], json.dumps(status)))
            ready = self.observer.wait_count(self.topics.events, lambda m: m.json["type"] == "function.ready",
                                             expect_ready, self.timeout, "%d function.ready events of %s on %s"
                                             % (expect_ready, deployment_id, self.agent.name), since,
                                             check=self.agent.check_alive)[:expect_ready]
        except HarnessError as error:
            raise BenchError("%s\n--- the agent's log (%s), last lines:\n%s"
                             % (error, self.agent.log_path, tail(self.agent.log_text())))
        failures = self.observer.seen(self.topics.events,
                                      lambda m: m.json["type"] in ("function.crashed", "function.broken"), since)
        if failures:
            raise BenchError("functions failed during deployment %s on %s: %s"
                             % (deployment_id, self.agent.name, [m.json for m in failures[:3]]))
        return [m.json for m in ready], (max(m.received for m in ready) - sent) if ready else None

    def undeploy(self, deployment_id):
        """Deploys no function at all, then waits until no function process and no instance
        cgroup is left, so that rounds do not overlap."""
        self.deploy(deployment_id, {}, 0)
        poll_until(lambda: not children_of(self.agent.pid), self.timeout,
                   "the function processes of %s to exit after %s" % (self.agent.name, deployment_id), 0.05)
        poll_until(lambda: not self.agent.instance_cgroups(), self.timeout,
                   "the instance cgroups of %s to be removed after %s" % (self.agent.name, deployment_id), 0.05)

    def health(self, predicate, what, since=None):
        """The first health report `online` for which `predicate(report)` holds, received after
        `since` (default: from now on)."""
        return self.observer.wait_for(self.topics.health,
                                      lambda m: m.json.get("status") == "online" and predicate(m.json),
                                      self.timeout, what, self.observer.mark() if since is None else since,
                                      check=self.agent.check_alive).json
