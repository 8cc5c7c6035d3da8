"""A Python function that reaches for what is not its own, for the isolation tests
(test_e2e_isolation.py). Each event names one attempt; the answer says what the kernel said:
{"ok": true, ...} or {"ok": false, "errno": "EACCES"}. It never decides what is allowed itself."""

import ctypes
import errno
import os

PTRACE_ATTACH = 16
PTRACE_DETACH = 17


def _whoami():
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("NoNewPrivs", "CapEff", "CapPrm", "CapBnd"):
                status[key] = value.strip()
    return {"ok": True, "pid": os.getpid(), "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "egid": os.getegid(), "groups": os.getgroups(), "home": os.environ.get("HOME"),
            "data": os.environ.get("EDGE_FUNCTION_DATA_DIR"), "dir": os.environ.get("EDGE_FUNCTION_DIR"),
            "umask": _umask(), "status": status}


def _umask():
    current = os.umask(0o077)
    os.umask(current)
    return current


def _ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
        return {"ok": True}
    return {"ok": False, "errno": errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))}


def _attempt(event):
    op = event["op"]
    if op == "whoami":
        return _whoami()
    if op == "kill":
        os.kill(int(event["pid"]), int(event.get("signal", 9)))
    elif op == "ptrace":
        return _ptrace(int(event["pid"]))
    elif op == "read":
        with open(event["path"], "rb") as f:
            f.read(1)
    elif op == "list":
        os.listdir(event["path"])
    elif op == "write":
        with open(event["path"], "w") as f:
            f.write(event.get("text", "x"))
    else:
        return {"ok": False, "errno": "unknown op %s" % op}
    return {"ok": True}


def handler(event, context):
    try:
        return _attempt(event)
    except OSError as error:
        return {"ok": False, "errno": errno.errorcode.get(error.errno, str(error.errno))}


def reads(event, context):
    """Tries to read every path in event["paths"]; answers {path: "ok" or an errno name}."""
    answers = {}
    for path in event["paths"]:
        try:
            with open(path, "rb") as f:
                f.read(1)
            answers[path] = "ok"
        except OSError as error:
            answers[path] = errno.errorcode.get(error.errno, str(error.errno))
    return answers
