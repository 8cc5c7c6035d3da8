"""The fit task: a plain Python module, loaded by path, that makes the requests and scores the
answers (`requests(count)`, `score(results, truths)`, optional `METRIC` and `TOPIC`)."""

import json
from pathlib import Path

from edge_model import task as tasks
from edge_model.fit_deployment import DeploymentError


class TaskFailure(Exception):
    """The user's task code raised: the message names the task file, the function and the error."""


def _call(path, name, function, *arguments):
    try:
        return function(*arguments)
    except Exception as error:  # the user's code: whatever it raised, say where
        raise TaskFailure("the task %s: %s() raised %s: %s" % (path, name, type(error).__name__, error)) from error


class FitTask:
    """What fit needs from the user's task module."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.metric = getattr(module, "METRIC", "score")
        self.topic = getattr(module, "TOPIC", None)

    def requests(self, count):
        """`count` (event, truth) pairs, each event a JSON-able object (fit sets its "id")."""
        pairs = list(_call(self.path, "requests", self.module.requests, count))
        if len(pairs) < count:
            raise DeploymentError("%s: requests(%d) gave %d requests" % (self.path, count, len(pairs)))
        events = []
        for index, pair in enumerate(pairs[:count]):
            event, truth = pair
            if not isinstance(event, dict):
                raise DeploymentError("%s: request %d is a %s; an event must be a JSON object (a dict)"
                                      % (self.path, index, type(event).__name__))
            json.dumps(event)  # a TypeError here names what is not JSON-able
            events.append((dict(event), truth))
        return events

    def score(self, results, truths):
        value = float(_call(self.path, "score", self.module.score, results, truths))
        if not 0.0 <= value <= 1.0:
            raise DeploymentError("%s: score() gave %r; it must be in [0, 1]" % (self.path, value))
        return value


def load(path):
    """Imports the task at `path` (its folder first on sys.path, so a task can import the modules
    beside it: an example's own pre- and post-processing)."""
    try:
        module = tasks.load(path, ["requests", "score"])
    except tasks.TaskError as error:
        raise DeploymentError("--task: %s (a fit task defines requests(count) and score(results, truths))"
                              % error) from error
    return FitTask(module, Path(path).resolve())
