"""Functions isolated from each other (issue 15): with the agent root, each function runs under a
uid of its own from functions.uids (gid = uid, no other group), kept across restarts and
redeployments; one function cannot signal, trace or read another, nor read the agent's key or
state files. The attempts are made by a real function (Tests/Integration/functions/prober.py)
and answered by the kernel.

Needs root (the agent switches users) and the function interpreter scripts/setup.sh makes; a
missing prerequisite skips, and fails under CI=true (h.require).
"""

import json
import os
import pwd
import subprocess
from pathlib import Path

import harness as h

PROBER = Path(__file__).parent / "functions" / "prober.py"
RANGE = (61000, 61183)


def prober(topic, version="1", **fields):
    """The prober as a Python function, subscribed to `topic` (a filter with one '+')."""
    return h.python_function(PROBER, "prober.handler", version=version, subscriptions=[topic], **fields)


def ask(edge, fn, event):
    """What function `fn` answers to `event` (its result), asserting the invocation succeeded."""
    answer = edge.send("%s/+/in" % fn, event, fn)
    assert answer["status"] == "ok", answer
    return answer["result"]


def deploy_pair(edge, revision=1, version="1", extra=None):
    functions = {"alpha": prober("alpha/+/in", version=version), "beta": prober("beta/+/in", version=version)}
    functions.update(extra or {})
    doc = h.document("isolation", revision, functions)
    edge.deploy(doc)
    return doc


def table(state):
    return json.loads((Path(state) / "function-uids.json").read_text())


def test_each_function_runs_under_a_uid_of_its_own_and_cannot_reach_another(agent, edge):
    h.require_root()
    a = agent()
    deploy_pair(edge)
    alpha, beta = ask(edge, "alpha", {"op": "whoami"}), ask(edge, "beta", {"op": "whoami"})

    # Distinct uids from the range, gid = uid, no other group, nothing to regain privileges with.
    for who in (alpha, beta):
        assert RANGE[0] <= who["uid"] <= RANGE[1], who
        assert who["uid"] == who["euid"] == who["gid"] == who["egid"], who
        assert who["groups"] == [who["gid"]], "a function must be in no group but its own: %s" % who
        assert who["status"]["NoNewPrivs"] == "1", who
        assert int(who["status"]["CapEff"], 16) == 0 and int(who["status"]["CapPrm"], 16) == 0, who
        assert who["umask"] == 0o077, who
        assert who["home"] == who["data"] and who["data"].endswith("/data/%s" % ("alpha" if who is alpha else "beta")), who
        assert h.uids_of(who["pid"]) == [who["uid"]] * 4
    assert alpha["uid"] != beta["uid"], (alpha, beta)
    for fn, who in (("alpha", alpha), ("beta", beta)):
        health = edge.function_health(fn, lambda f, pid=who["pid"]: f.get("pid") == pid)
        assert health["user"] == "uid %d" % who["uid"], health
    assert table(a.state_dir)["functions"] == {"alpha": alpha["uid"], "beta": beta["uid"]}

    # Its own data folder is writable and private; its code folder and the state folder are not writable.
    secret = os.path.join(beta["data"], "secret")
    assert ask(edge, "beta", {"op": "write", "path": secret, "text": "beta's"}) == {"ok": True}
    assert os.stat(secret).st_uid == beta["uid"]
    assert os.stat(secret).st_mode & 0o077 == 0, "umask 077: what beta makes is its own"
    assert ask(edge, "alpha", {"op": "write", "path": os.path.join(alpha["dir"], "x"), "text": "y"})["errno"] == "EACCES"
    assert ask(edge, "alpha", {"op": "write", "path": str(a.state_dir / "planted"), "text": "y"})["errno"] == "EACCES"
    # A file beta shares with its group is still closed to alpha (not in beta's group).
    shared = os.path.join(beta["data"], "group-readable")
    Path(shared).write_text("beta's group only")
    os.chown(shared, beta["uid"], beta["gid"])
    os.chmod(shared, 0o640)
    os.chmod(beta["data"], 0o750)  # as if beta opened its folder to its group

    # alpha cannot signal, trace, or read beta, nor list or read beta's code.
    assert ask(edge, "alpha", {"op": "kill", "pid": beta["pid"], "signal": 9}) == {"ok": False, "errno": "EPERM"}
    assert ask(edge, "alpha", {"op": "kill", "pid": beta["pid"], "signal": 0}) == {"ok": False, "errno": "EPERM"}
    assert ask(edge, "alpha", {"op": "ptrace", "pid": beta["pid"]}) == {"ok": False, "errno": "EPERM"}
    for path in ("/proc/%d/environ" % beta["pid"], "/proc/%d/mem" % beta["pid"], secret, shared,
                 os.path.join(beta["dir"], "prober.py")):
        assert ask(edge, "alpha", {"op": "read", "path": path}) == {"ok": False, "errno": "EACCES"}, path
    assert ask(edge, "alpha", {"op": "list", "path": beta["dir"]})["errno"] == "EACCES"
    assert h.process_alive(beta["pid"]), "beta was killed by alpha"
    assert ask(edge, "beta", {"op": "whoami"})["pid"] == beta["pid"]
    # Its own, it reads.
    assert ask(edge, "alpha", {"op": "read", "path": os.path.join(alpha["dir"], "prober.py")}) == {"ok": True}


def test_a_function_cannot_read_the_agents_key_or_state_files(agent, edge, shared_tmp):
    h.require_root()
    # The device key and a configuration holding the broker password, as the operator keeps
    # them (certs/ makes keys 0600; a group-readable 0640 root:root file is tried too), in a
    # folder every user can traverse: only their modes and the function's identity guard them.
    etc = h.shared_path(shared_tmp / "etc")
    key, config = etc / "device.key", etc / "config.json"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
                   check=True, capture_output=True)
    key.chmod(0o600)
    config.write_text(json.dumps({"thingName": "x", "broker": {"username": "x", "password": "not-for-functions"}}))
    config.chmod(0o640)
    a = agent()
    doc = h.document("isolation", 1, {
        "alpha": prober("alpha/+/in"),
        "reader": h.python_function(PROBER, "prober.reads", subscriptions=["reader/+/in"]),
    })
    edge.deploy(doc)
    alpha = ask(edge, "alpha", {"op": "whoami"})
    assert ask(edge, "alpha", {"op": "write", "path": os.path.join(alpha["data"], "mine"), "text": "x"}) == {"ok": True}
    assert edge.send("alpha/+/in", {"op": "whoami"}, "alpha")["status"] == "ok"  # logs and the outbox hold something
    state = a.state_dir
    # Everything the agent keeps, but the reader's own folders and the runtime module every function imports.
    own = ("functions/reader/", "data/reader/", "runtime/")
    files = sorted(str(p) for p in state.rglob("*") if p.is_file() and not any(
        str(p.relative_to(state)).startswith(prefix) for prefix in own))
    kept = {str(Path(f).relative_to(state)).split("/")[0] for f in files}
    for expected in ("deployments.json", "function-uids.json", "logs", "data", "functions"):
        assert expected in kept, "the state folder holds no %s to try: %s" % (expected, sorted(kept))
    paths = files + [str(key), str(config)]
    answers = ask(edge, "reader", {"paths": paths})
    opened = {path: answer for path, answer in answers.items() if answer != "EACCES"}
    assert not opened, "a function could open the agent's files: %s" % opened


def test_the_uid_survives_restarts_and_redeployments_and_is_given_back_once_the_function_is_gone(agent, edge):
    h.require_root()
    a = agent()
    deploy_pair(edge)
    alpha, beta = ask(edge, "alpha", {"op": "whoami"}), ask(edge, "beta", {"op": "whoami"})
    assert ask(edge, "beta", {"op": "write", "path": os.path.join(beta["data"], "kept"), "text": "x"}) == {"ok": True}

    assert a.stop() == 0
    since = edge.obs.mark()
    a.start()
    # Restored (its functions started and subscribed) before anything is sent.
    edge.obs.wait_for(edge.topics.status, lambda m: m.json["status"] == "SUCCEEDED"
                      and m.json.get("reason") == "restored after an agent restart", since=since, what="the restore after the restart")
    again = ask(edge, "alpha", {"op": "whoami"}), ask(edge, "beta", {"op": "whoami"})
    assert [again[0]["uid"], again[1]["uid"]] == [alpha["uid"], beta["uid"]], (alpha, beta, again)
    assert again[1]["pid"] != beta["pid"], "beta was not restarted with the agent"
    assert ask(edge, "beta", {"op": "read", "path": os.path.join(beta["data"], "kept")}) == {"ok": True}

    # A new version of both: same uids.
    deploy_pair(edge, revision=2, version="2")
    assert ask(edge, "alpha", {"op": "whoami"})["uid"] == alpha["uid"]
    assert ask(edge, "beta", {"op": "whoami"})["uid"] == beta["uid"]

    # beta removed for good (revision 3 and 4, so that no kept deployment has it): its data goes, its uid is given back.
    for revision in (3, 4):
        edge.deploy(h.document("isolation", revision, {"alpha": prober("alpha/+/in", version=str(revision))}))
    data = Path(beta["data"])
    a.wait_log("function uid given back", what="beta's uid given back once its folder is gone")
    assert beta["uid"] in table(a.state_dir)["released"], table(a.state_dir)
    assert not data.exists(), "beta's data folder outlived it"
    # A new function gets a never-used uid first, not beta's.
    edge.deploy(h.document("isolation", 5, {"alpha": prober("alpha/+/in", version="5"), "gamma": prober("gamma/+/in")}))
    gamma = ask(edge, "gamma", {"op": "whoami"})
    assert gamma["uid"] not in (alpha["uid"], beta["uid"]), (alpha, beta, gamma)


def test_an_explicit_user_wins_over_a_uid_of_its_own(agent, edge, agent_bin, broker):
    user = h.require_function_user()
    agent()
    deploy_pair(edge, extra={"named": prober("named/+/in", user=h.FUNCTION_USER)})
    named = ask(edge, "named", {"op": "whoami"})
    assert named["uid"] == user.pw_uid and named["gid"] == user.pw_gid, named
    health = edge.function_health("named", lambda f: f.get("pid") == named["pid"])
    assert health["user"] == h.FUNCTION_USER, health
    alpha = ask(edge, "alpha", {"op": "whoami"})
    assert RANGE[0] <= alpha["uid"] <= RANGE[1], alpha
    # edgectl says who each runs as.
    env = {name: value for name, value in os.environ.items() if not name.startswith("EDGECTL_")}
    env.update({"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "20"})
    edge.function_health("alpha", lambda f: f.get("pid") == alpha["pid"])
    shown = subprocess.run([str(agent_bin.with_name("edgectl")), "health", "--thing", edge.thing], capture_output=True, text=True,
                           timeout=60, env=env)
    assert shown.returncode == 0, shown
    assert "as uid %d" % alpha["uid"] in shown.stdout and "as %s" % h.FUNCTION_USER in shown.stdout, shown.stdout
    # Its folder opens to its user's group, not to the others.
    assert ask(edge, "named", {"op": "read", "path": os.path.join(named["dir"], "prober.py")}) == {"ok": True}
    assert ask(edge, "alpha", {"op": "read", "path": os.path.join(named["dir"], "prober.py")})["errno"] == "EACCES"


def test_uids_off_runs_functions_as_the_function_user(agent, edge):
    user = h.require_function_user()
    agent(extra_args=["--function-uids", "off"])
    deploy_pair(edge)
    alpha, beta = ask(edge, "alpha", {"op": "whoami"}), ask(edge, "beta", {"op": "whoami"})
    assert alpha["uid"] == beta["uid"] == user.pw_uid, (alpha, beta)
    assert pwd.getpwuid(alpha["uid"]).pw_name == h.FUNCTION_USER
