"""Loads a task file: the user's data and metric, as a plain Python module given by path.

An optimize task defines `heldout()` (a list of (inputs, label) pairs), `calibration()` (model
inputs for static int8) and, optionally, `score(outputs, labels)` and `METRIC`. A fit task defines
`requests(count)` and `score(results, truths)`. docs/models.md shows both.
"""

import importlib.util
import os
import sys


class TaskError(Exception):
    """A task file that cannot be used; the message names the file and the fix."""


def load(path, required):
    """The module at `path`, checked to define each name of `required` as a function."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise TaskError("task file %s does not exist (give --task the path of a Python file)" % path)
    name = "edge_model_task_%d" % (abs(hash(path)) % 10**8)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskError("task file %s is not a Python module (it must end in .py)" % path)
    module = importlib.util.module_from_spec(spec)
    # The task's own folder first, so it imports its neighbours (an example's ocr.py, frames.py).
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: say where it failed, whatever it raised
        raise TaskError("task file %s failed to load: %s: %s" % (path, type(error).__name__, error)) from error
    for function in required:
        if not callable(getattr(module, function, None)):
            raise TaskError("task file %s defines no function %s() (see docs/models.md, 'Task files')"
                            % (path, function))
    return module


def metric_name(module, default):
    value = getattr(module, "METRIC", None)
    return value if isinstance(value, str) and value else default
