"""Files a function must reach.

Functions may run as another user than the tests (edgefn, when the agent is root). pytest's
tmp_path is under /tmp/pytest-of-<user> (mode 0700): such a function cannot reach it. State
directories and every file a function reads live instead under one base per session,
/tmp/edge-e2e-XXXX (0711), in a folder per test (0711).
"""

import re
import shutil
import tempfile
from pathlib import Path

from .waits import HarnessError

_shared = {"base": None, "test": None}


def make_shared_base():
    """Creates the session's base folder (0711) and returns it."""
    base = Path(tempfile.mkdtemp(prefix="edge-e2e-", dir="/tmp"))
    base.chmod(0o711)
    _shared["base"] = base
    return base


def remove_shared_base():
    base, _shared["base"], _shared["test"] = _shared["base"], None, None
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


def begin_shared_test(name):
    """A folder (0711) of its own under the base for the test `name`; the default for shared_path."""
    if _shared["base"] is None:
        raise HarnessError("no shared base folder: make_shared_base() was not called")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
    folder = Path(tempfile.mkdtemp(prefix=safe + "-", dir=_shared["base"]))
    folder.chmod(0o711)
    _shared["test"] = folder
    return folder


def end_shared_test():
    _shared["test"] = None


def shared_location(path):
    """Where `path` goes so that a function's user can reach it: `path` itself when it is under the
    shared base, else an entry of the same name in the current test's shared folder (so
    `tmp_path / "src"` becomes <test folder>/src). The folders above it, up to the base, are
    created (0711); `path` itself is not. Without a current test (the harness used on its own),
    `path` as given."""
    path = Path(path)
    base, test = _shared["base"], _shared["test"]
    if test is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    if base is not None and path.is_absolute() and _is_under(path, base):
        target = path
    else:
        target = test / path.name
    missing = []
    cursor = target.parent
    while not cursor.exists():
        missing.append(cursor)
        cursor = cursor.parent
    for folder in reversed(missing):
        folder.mkdir()
        folder.chmod(0o711)
    return target


def shared_path(directory=None, mode=0o711):
    """The folder `directory` names, placed by shared_location and created with `mode`; without
    `directory`, the current test's shared folder."""
    if directory is None:
        if _shared["test"] is None:
            raise HarnessError("shared_path() without a folder needs a current test")
        return _shared["test"]
    target = shared_location(directory)
    target.mkdir(exist_ok=True)
    target.chmod(mode)
    return target


def _is_under(path, base):
    try:
        Path(path).resolve().relative_to(Path(base).resolve())
        return True
    except ValueError:
        return False


def world_writable_dir(name):
    """A folder in the current test's shared folder that any user may create files in (sticky, 1777)."""
    return shared_path(name, mode=0o1777)


def write_module(directory, name, source):
    """Writes a Python handler module `name`.py (0644) into the folder `directory` names, placed
    where a function's user can read it (see shared_path); returns its path."""
    path = shared_path(directory) / ("%s.py" % name)
    path.write_text(source)
    path.chmod(0o644)
    return path


def copy_executable(source, directory, name=None):
    """Copies `source` (0755) into the folder `directory` names, placed where a function's user can
    read it (see shared_path); returns its path."""
    target = shared_path(directory) / (name or Path(source).name)
    shutil.copy2(source, target)
    target.chmod(0o755)
    return target
