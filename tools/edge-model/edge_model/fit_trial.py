"""One trial of `edge-model fit` on the device: deploy the function under a set of limits, send it
the task's requests through MQTT, and read back what the agent saw (answers, OOM kills, memory
peak, pids, throttling). The verdict is fit_search.trial_verdict's."""

import json
import re
import time

from edge_model import fit_broker, fit_deployment, fit_edgectl, fit_search

# Seconds to wait for the health report that counts the trial's last answer: the agent publishes
# one a second after its counters move.
HEALTH_WAIT = 10.0
# Seconds over the function's timeoutMs to wait for an answer (the agent answers every event,
# a crash or a timeout included, but a restart's backoff may come first).
ANSWER_GRACE = 15.0


class Trial:
    """A trial's settings and what came of it (a row of the report)."""

    def __init__(self, number, variant, purpose, limits, version, deployment_id, revision):
        self.number = number
        self.variant = variant
        self.purpose = purpose
        self.limits = dict(limits)
        self.version = version
        self.deployment_id = deployment_id
        self.revision = revision
        self.status = None
        self.reason = None
        self.refused_limit = None
        self.sent = 0
        self.answered = 0
        self.errors = 0
        self.error_types = {}
        self.oom_kills = 0
        self.pids_limit_hits = 0
        self.peak_memory_bytes = None
        self.peak_pids = None
        self.cpu_throttled_usec = None
        self.round_trips = []
        self.durations = []  # the agent's durationMs: the handler's time, without the broker
        self.score = None
        self.latency_target_ms = None
        self.passed = False
        self.verdict = None
        self.seconds = None

    def p(self, fraction):
        return fit_search.percentile(self.round_trips, fraction)

    def json(self):
        return {
            "trial": self.number, "variant": self.variant, "purpose": self.purpose, "limits": self.limits,
            "version": self.version, "deploymentId": self.deployment_id, "revision": self.revision,
            "status": self.status, "reason": self.reason, "sent": self.sent, "answered": self.answered,
            "errors": self.errors, "errorTypes": self.error_types, "oomKills": self.oom_kills,
            "pidsLimitHits": self.pids_limit_hits, "peakMemoryBytes": self.peak_memory_bytes,
            "peakPids": self.peak_pids, "cpuThrottledUsec": self.cpu_throttled_usec,
            "p50Ms": _round(self.p(0.5)), "p99Ms": _round(self.p(0.99)),
            "durationP50Ms": _round(fit_search.percentile(self.durations, 0.5)),
            "durationP99Ms": _round(fit_search.percentile(self.durations, 0.99)), "score": self.score,
            "maxMs": _round(max(self.round_trips)) if self.round_trips else None,
            "latencyTargetMs": self.latency_target_ms,
            "overTarget": (sum(1 for value in self.round_trips if value > self.latency_target_ms)
                           if self.latency_target_ms is not None else None),
            "timeouts": self.error_types.get("Timeout", 0),
            "passed": self.passed, "verdict": self.verdict, "seconds": _round(self.seconds),
        }


def _round(value, digits=2):
    return None if value is None else round(value, digits)


class Device:
    """The thing under test, reached through the broker (session) and edgectl."""

    def __init__(self, session, edgectl, connection, thing, function, work_dir, first_revision,
                 deploy_timeout=120, sign_key=None, log=print):
        self.session = session
        self.edgectl = edgectl
        self.connection = connection
        self.thing = thing
        self.function = function
        self.work_dir = work_dir
        self.revision = first_revision
        self.deploy_timeout = deploy_timeout
        self.sign_key = sign_key
        self.log = log
        self.trials = []

    def run(self, document, variant, purpose, limits, task, requests, latency_target_ms=None, stop_on_failure=True):
        """Deploys `document` (the variant's) under `limits` and drives `requests`; returns the Trial."""
        number = len(self.trials) + 1
        self.revision += 1
        spec = fit_deployment.function_spec(document, self.function)
        version = fit_deployment.trial_version(spec["version"], number)
        deployment_id = fit_deployment.trial_id(document["deploymentId"], variant, number)
        trial = Trial(number, variant, purpose, limits, version, deployment_id, self.revision)
        trial.latency_target_ms = latency_target_ms
        self.trials.append(trial)
        started = time.monotonic()

        doc = fit_deployment.with_limits(document, self.function, limits, deployment_id, self.revision, version)
        path = self.work_dir / ("trial-%03d.json" % number)
        path.write_text(json.dumps(doc, indent=2) + "\n")
        mark = self.session.mark()
        outcome = fit_edgectl.deploy(self.edgectl, path, self.thing, self.connection, self.function,
                                     self.deploy_timeout, self.sign_key)
        seen = _revision_seen(outcome)
        if seen is not None:
            # The agent saw a newer revision than the broker keeps (its retained document was
            # cleared): go past it, once.
            self.revision = trial.revision = seen + 1
            doc["revision"] = trial.revision
            path.write_text(json.dumps(doc, indent=2) + "\n")
            outcome = fit_edgectl.deploy(self.edgectl, path, self.thing, self.connection, self.function,
                                         self.deploy_timeout, self.sign_key)
        trial.status, trial.reason, trial.refused_limit = outcome.status, outcome.reason, outcome.refused_limit
        if outcome.deployed:
            self._drive(trial, doc, task, requests, mark, stop_on_failure)
        self._read_events(trial, mark)
        # The failure reasons the agent gives for a limit hit at start (docs/resource-caps.md).
        if outcome.reason and "OOM killer" in outcome.reason:
            trial.oom_kills = max(trial.oom_kills, 1)
        if outcome.reason and "at its process limit" in outcome.reason:
            trial.pids_limit_hits = max(trial.pids_limit_hits, 1)
        trial.passed, trial.verdict = fit_search.trial_verdict(
            outcome.deployed, trial.answered - trial.errors, len(requests), trial.errors, trial.oom_kills,
            trial.pids_limit_hits, trial.p(0.99), latency_target_ms, outcome.status)
        trial.seconds = time.monotonic() - started
        self.log("  trial %d %-12s %-9s %s -> %s%s" % (
            number, variant, purpose, limits_text(limits), "fits" if trial.passed else "does not fit: " + trial.verdict,
            " (p99 %.1f ms)" % trial.p(0.99) if trial.passed and trial.p(0.99) is not None else ""))
        return trial

    def _drive(self, trial, doc, task, requests, mark, stop_on_failure):
        spec = fit_deployment.function_spec(doc, self.function)
        topic = fit_deployment.request_topic(spec, self.thing, self.function, task.topic)
        timeout = spec.get("timeoutMs", 3000) / 1000.0 + ANSWER_GRACE
        # One warm-up request first, not timed nor scored: the first inference of a fresh instance
        # pays lazy initialisation (onnxruntime allocates its arenas then), which would otherwise
        # be the p99 of a short trial. Its memory counts: the peak is read afterwards.
        warm = dict(requests[0][0], id="fit-%d-warmup" % trial.number)
        answer, _ = self.session.request(topic, warm, trial.version, self.function, timeout)
        if answer is None or answer.get("status") != "ok":
            self._count_failure(trial, answer)
            if stop_on_failure:
                self._read_health(trial, mark)
                return
        results, truths = [], []
        for index, (event, truth) in enumerate(requests):
            event = dict(event)
            event["id"] = "fit-%d-%d" % (trial.number, index)
            answer, round_trip = self.session.request(topic, event, trial.version, self.function, timeout)
            trial.sent += 1
            truths.append(truth)
            if answer is not None and answer.get("status") == "ok":
                trial.answered += 1
                results.append(answer.get("result"))
                trial.round_trips.append(round_trip)
                if isinstance(answer.get("durationMs"), (int, float)):
                    trial.durations.append(answer["durationMs"])
            else:
                results.append(None)
                self._count_failure(trial, answer)
            failed = answer is None or answer.get("status") != "ok" or self._oom_seen(trial, mark)
            if failed and stop_on_failure:
                break
        if len(results) == len(requests):
            trial.score = task.score(results, truths)
        self._read_health(trial, mark)

    @staticmethod
    def _count_failure(trial, answer):
        """An error answer (counted by type), or no answer at all."""
        if answer is None:
            return
        trial.answered += 1
        trial.errors += 1
        kind = (answer.get("error") or {}).get("type") or "error"
        trial.error_types[kind] = trial.error_types.get(kind, 0) + 1

    def _oom_seen(self, trial, mark):
        return any(self._ours(m.payload, trial) and m.payload.get("type") == "function.oom_killed"
                   for m in self.session.since("events", mark))

    def _ours(self, payload, trial):
        return isinstance(payload, dict) and payload.get("function") == self.function \
            and payload.get("version") == trial.version

    def _read_health(self, trial, mark):
        """Usage from the health reports of the trial's version, once one counts every answer."""
        def entry(message):
            functions = (message.payload or {}).get("functions") or {}
            fn = functions.get(self.function)
            return fn if isinstance(fn, dict) and fn.get("version") == trial.version else None

        def counted():
            for message in self.session.messages["health"][mark["health"]:]:
                fn = entry(message)
                if fn is not None and fn.get("invocations", 0) >= trial.answered:
                    return True
            return False

        try:
            self.session.wait(counted, HEALTH_WAIT, "a health report counting the trial's answers")
        except fit_broker.BrokerError:
            self.log("  (no health report counted all the answers of trial %d within %.0f s: usage from the last one)"
                     % (trial.number, HEALTH_WAIT))
        for message in self.session.since("health", mark):
            fn = entry(message)
            if fn is None:
                continue
            usage = fn.get("usage") or {}
            trial.peak_memory_bytes = _max(trial.peak_memory_bytes, usage.get("memoryPeakBytes"))
            trial.peak_pids = _max(trial.peak_pids, usage.get("pids"))
            trial.oom_kills = _max(trial.oom_kills, usage.get("oomKills")) or 0
            trial.pids_limit_hits = _max(trial.pids_limit_hits, usage.get("pidsLimitHits")) or 0
            trial.cpu_throttled_usec = _max(trial.cpu_throttled_usec, usage.get("cpuThrottledUsec"))

    def _read_events(self, trial, mark):
        for message in self.session.since("events", mark):
            if not self._ours(message.payload, trial):
                continue
            kind = message.payload.get("type")
            if kind == "function.oom_killed":
                trial.oom_kills = max(trial.oom_kills, int(message.payload.get("oomKills") or 1))
            elif kind == "function.pids_limit":
                trial.pids_limit_hits = max(trial.pids_limit_hits, int(message.payload.get("hits") or 1))


def _revision_seen(outcome):
    """The revision the agent says it saw, when it refused ours as older; else None."""
    if outcome.status != "REJECTED" or not outcome.reason:
        return None
    found = re.search(r"older than revision (\d+)", outcome.reason)
    return int(found.group(1)) if found else None


def _max(a, b):
    if not isinstance(b, (int, float)):
        return a
    return b if a is None else max(a, b)


def limits_text(limits):
    return " ".join("%s=%s" % (k, v) for k, v in sorted(limits.items()) if v is not None)
