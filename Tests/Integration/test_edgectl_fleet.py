"""edgectl for a fleet (issue 14, first part): the connection given once (flags, EDGECTL_*
variables, a profile file, in that order), `--version`, `things` (every thing with a health
report on the broker, by group, as a table or JSON, once or live with `--watch`), and a `deploy`
that checks before it publishes (a newer revision, a thing that exists) and says when the broker
refused the publish. Real agents on a real broker; the binary as an operator runs it."""

import json
import os
import select
import subprocess
import time

import harness as h


def _edgectl_path(agent_bin):
    return str(agent_bin.with_name("edgectl"))


def _run(agent_bin, *args, env=None, timeout=60):
    full = dict(os.environ)
    for name in list(full):
        if name.startswith("EDGECTL_"):
            del full[name]
    full.update(env or {})
    return subprocess.run([_edgectl_path(agent_bin)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def _profile(tmp_path, profiles, default=None):
    path = tmp_path / "edgectl" / "config.json"
    path.parent.mkdir(exist_ok=True)
    document = {"profiles": profiles}
    if default:
        document["defaultProfile"] = default
    path.write_text(json.dumps(document))
    return path


COMMANDS = [["things"], ["validate"], ["deploy"], ["undeploy"], ["status"], ["health"], ["invoke"], ["config"], ["completion"],
            ["check"], ["stop"], ["start"], ["restart"], ["logs"], ["dashboard"], ["keygen"], ["sign"],
            ["shadow"], ["shadow", "get"], ["shadow", "update"], ["shadow", "delete"]]


def test_version_and_help_with_examples_for_every_command(agent_bin):
    version = _run(agent_bin, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "edgectl 0.1.0", version
    listed = _run(agent_bin, "--help").stdout
    for command in COMMANDS:
        helped = _run(agent_bin, *command, "--help")
        assert helped.returncode == 0, helped
        assert "Examples:" in helped.stdout, "edgectl %s --help has no examples:\n%s" % (" ".join(command), helped.stdout)
        examples = [line.split() for line in helped.stdout.split("Examples:")[1].splitlines() if line.strip().startswith("edgectl ")]
        assert any(example[1:1 + len(command)] == command for example in examples), examples
        assert all(example[1] in {c[0] for c in COMMANDS} for example in examples), examples
        if len(command) == 1:
            assert command[0] in listed, "edgectl --help lists %s" % command[0]


def test_completion_is_printed_and_installed_for_bash_zsh_and_fish(agent_bin, tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": ""}
    for shell, where in (("bash", ".local/share/bash-completion/completions/edgectl"), ("zsh", ".zfunc/_edgectl"),
                         ("fish", ".config/fish/completions/edgectl.fish")):
        printed = _run(agent_bin, "completion", shell, env=env)
        assert printed.returncode == 0 and "things" in printed.stdout and "invoke" in printed.stdout, printed
        installed = _run(agent_bin, "completion", shell, "--install", env=env)
        assert installed.returncode == 0 and str(tmp_path / where) in installed.stdout, installed
        assert (tmp_path / where).read_text().strip() == printed.stdout.strip()
    checked = subprocess.run(["bash", "-n", str(tmp_path / ".local/share/bash-completion/completions/edgectl")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, "the bash completion parses: %s" % checked.stderr
    wrong = _run(agent_bin, "completion", "tcsh")
    assert wrong.returncode == 64 and "bash, zsh or fish" in wrong.stderr, wrong


def test_each_setting_comes_from_its_flag_else_its_variable_else_the_profile(agent_bin, tmp_path):
    config = _profile(tmp_path, {"lab": {"host": "broker.lab", "port": 8883, "tlsCA": "certs/ca.crt", "timeout": 7,
                                         "username": "operator"}}, default="lab")
    env = {"EDGECTL_CONFIG": str(config)}
    shown = _run(agent_bin, "config", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)
    assert settings["profile"] == {"name": "lab", "file": str(config)}
    assert settings["host"] == {"value": "broker.lab", "source": "profile lab (%s)" % config}
    assert settings["tlsCA"]["value"] == str(config.parent / "certs/ca.crt"), "a path in a profile is relative to its file"
    assert settings["port"]["value"] == "8883" and settings["timeout"]["value"] == "7"

    env.update({"EDGECTL_HOST": "from-variable", "EDGECTL_TIMEOUT": "9"})
    settings = json.loads(_run(agent_bin, "config", "--json", "--timeout", "11", env=env).stdout)
    assert settings["host"] == {"value": "from-variable", "source": "$EDGECTL_HOST"}, "a variable beats the profile"
    assert settings["timeout"] == {"value": "11", "source": "--timeout"}, "a flag beats the variable"
    assert settings["username"]["source"].startswith("profile lab")


def test_a_profile_file_with_a_mistake_is_refused_naming_it(agent_bin, tmp_path):
    config = _profile(tmp_path, {"lab": {"host": "h", "password": "secret"}, "prod": {"hots": "h"}})
    refused = _run(agent_bin, "config", "--profile", "lab", "--config", config)
    assert refused.returncode == 64 and "profiles.lab.password" in refused.stderr and "passwordFile" in refused.stderr, refused
    assert "secret" not in refused.stderr + refused.stdout, "a password is never echoed"
    typo = _run(agent_bin, "config", "--profile", "prod", "--config", config)
    assert typo.returncode == 64 and "profiles.prod.hots is not a setting" in typo.stderr, typo
    missing = _run(agent_bin, "config", "--profile", "staging", "--config", config)
    assert missing.returncode == 64 and 'no profile "staging"' in missing.stderr and "lab, prod" in missing.stderr, missing
    absent = _run(agent_bin, "config", "--config", tmp_path / "none.json")
    assert absent.returncode == 64 and "cannot read the profile file" in absent.stderr, absent


def test_things_lists_the_fleet_by_group_online_and_offline_from_the_profile_alone(agent, broker, tmp_path, agent_bin,
                                                                                    make_observer):
    group = h.unique("line-")
    names = sorted(h.unique("cam-") for _ in range(3))
    agents = [agent(thing_name=name, groups=(group,) if index < 2 else ()) for index, name in enumerate(names)]
    observer = make_observer(broker.port)
    for name in names:
        observer.wait_for("edge/things/%s/health" % name, lambda m: m.json.get("status") == "online",
                          what="health from %s" % name)
    # The connection comes from the profile alone: no flag names the broker.
    config = _profile(tmp_path, {"local": {"host": "127.0.0.1", "port": broker.port}}, default="local")
    env = {"EDGECTL_CONFIG": str(config)}

    listed = _run(agent_bin, "things", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    fleet = {entry["thing"]: entry["health"] for entry in json.loads(listed.stdout)}
    assert set(names) <= set(fleet), "every agent is listed: %s" % sorted(fleet)
    assert all(fleet[name]["status"] == "online" for name in names)

    grouped = json.loads(_run(agent_bin, "things", "--group", group, "--json", env=env).stdout)
    assert [entry["thing"] for entry in grouped] == names[:2], grouped
    assert grouped[0]["health"]["groups"] == [group]

    agents[1].stop()
    observer.wait_for("edge/things/%s/health" % names[1], lambda m: m.json.get("status") == "offline",
                      what="the offline report of %s" % names[1])
    table = _run(agent_bin, "things", "--group", group, env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["THING", "STATUS", "AGENT", "DEPLOYMENT", "FUNCTIONS"], lines
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(names[:2]), lines
    assert " online " in rows[names[0]] and "0.1.0" in rows[names[0]], rows[names[0]]
    assert "offline" in rows[names[1]] and "(agent stopped)" in rows[names[1]], rows[names[1]]

    nobody = _run(agent_bin, "things", "--group", h.unique("empty-"), env=env)
    assert nobody.returncode == 1 and "no thing of group" in nobody.stderr, nobody


def test_things_watch_prints_the_fleet_again_when_a_thing_changes_across_a_broker_restart(agent, broker, agent_bin,
                                                                                         make_observer):
    group = h.unique("line-")
    name = h.unique("cam-")
    running = agent(thing_name=name, groups=(group,))
    make_observer(broker.port).wait_for("edge/things/%s/health" % name, lambda m: m.json.get("status") == "online",
                                        what="health from %s" % name)
    env = dict(os.environ, EDGECTL_PORT=str(broker.port), EDGECTL_HOST="127.0.0.1")
    watcher = subprocess.Popen([_edgectl_path(agent_bin), "things", "--watch", "--json", "--group", group],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        def next_fleet(timeout=20.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([watcher.stdout], [], [], deadline - time.monotonic())
                if ready:
                    line = watcher.stdout.readline()
                    assert line, "edgectl things --watch ended: %s" % watcher.stderr.read()
                    return {entry["thing"]: entry["health"]["status"] for entry in json.loads(line)}
            raise h.HarnessError("edgectl things --watch printed nothing within %.0f s" % timeout)

        assert next_fleet() == {name: "online"}
        # The broker restarts (nothing kept): edgectl reconnects by itself and subscribes again.
        broker.stop()
        broker.start()
        # The agent's report after its reconnect reaches edgectl only on a subscription made anew
        # (a shutting-down Mosquitto may first hand out the agent's last will: offline).
        while next_fleet() != {name: "online"}:
            pass
        running.stop()
        while True:
            fleet = next_fleet()
            if fleet[name] == "offline":
                break
            assert fleet == {name: "online"}, fleet
    finally:
        watcher.kill()
        watcher.wait()


def _deployment(tmp_path, echo_bin, deployment_id, revision):
    path = tmp_path / ("%s-%d.json" % (deployment_id, revision))
    path.write_text(json.dumps(h.document(deployment_id, revision, {"echo": h.native_function(echo_bin)})))
    return path


def test_deploy_refuses_a_revision_not_newer_than_the_retained_one_and_an_unknown_thing(agent, broker, thing, agent_bin,
                                                                                        tmp_path, echo_bin, make_observer):
    agent()
    env = {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "30"}
    first = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 2), "--thing", thing, env=env)
    assert first.returncode == 0 and "SUCCEEDED: echo revision 2" in first.stdout, first

    again = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo-older", 1), "--thing", thing, env=env)
    assert again.returncode == 1, again
    assert "revision 1 is not greater than revision 2 (echo) retained on edge/things/%s/deployment" % thing in again.stderr
    assert 'Set "revision": 3' in again.stderr and "nothing was published" in again.stderr, again.stderr
    observer = make_observer(broker.port)
    retained = observer.wait_for("edge/things/%s/deployment" % thing, lambda m: True, what="the retained deployment")
    assert retained.json["deploymentId"] == "echo", "the retained document is untouched: %s" % retained.json

    stranger = h.unique("nobody-")
    unknown = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", stranger, env=env)
    assert unknown.returncode == 1 and "no agent named %s has connected to this broker" % stranger in unknown.stderr, unknown
    assert "--new-thing" in unknown.stderr
    early = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", stranger, "--new-thing",
                 "--no-wait", env=env)
    assert early.returncode == 0 and "published echo revision 1" in early.stdout, early
    observer.wait_for("edge/things/%s/deployment" % stranger, lambda m: m.json["revision"] == 1,
                      what="the document kept for the device that has not connected yet")


def test_deploy_says_when_the_broker_refuses_the_publish(make_broker, agent_bin, tmp_path, echo_bin):
    """Credentials that may read but not publish deployments (a device's, used by mistake): the
    broker's refusal is said, with exit code 1, instead of "published" and a wait for the agent."""
    acl = tmp_path / "acl"
    acl.write_text("user viewer\ntopic read edge/#\n")
    broker = make_broker(users={"viewer": "viewer-pw"}, settings=["acl_file %s" % acl])
    password = tmp_path / "viewer.password"
    password.write_text("viewer-pw\n")
    env = {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_USERNAME": "viewer",
           "EDGECTL_PASSWORD_FILE": str(password), "EDGECTL_TIMEOUT": "10"}
    refused = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", "cam-x", "--new-thing", env=env)
    assert refused.returncode == 1, refused
    assert "the broker refused the publish to edge/things/cam-x/deployment: not authorized (code 0x87)" in refused.stderr, refused.stderr
    assert "published" not in refused.stdout, refused.stdout
    # MQTT 3.1.1 acknowledges what the ACL drops: edgectl reads the document back.
    silent = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", "cam-x", "--new-thing",
                  "--mqtt-protocol", "3.1.1", env=env)
    assert silent.returncode == 1, silent
    assert "the broker did not keep the document on edge/things/cam-x/deployment" in silent.stderr, silent.stderr
    assert "published" not in silent.stdout, silent.stdout


def test_under_tls_and_the_shipped_acl_edgectl_deploys_lists_and_invokes(agent, make_broker, tmp_path, thing, agent_bin,
                                                                          echo_bin):
    """The shipped ACLs (deploy/mosquitto.acl for devices, deploy/operators.acl for operators)
    with mutual TLS: the device's CN is its thing name, edgectl connects as `operator`. The
    invoke's reply topic (edgectl/replies/THING/ID) is one the device may write and the operator
    read, and the agent's delivery check is allowed. The shipped broker has one listener for each
    (deploy/check-broker-acl.sh checks that layout); here one listener takes both files' rules."""
    pki = h.make_tls_material(tmp_path / "pki", client_names=(thing, "operator"))
    acl = tmp_path / "shipped.acl"
    acl.write_text((h.REPO / "deploy" / "mosquitto.acl").read_text() + "\n" + (h.REPO / "deploy" / "operators.acl").read_text())
    broker = make_broker(tls={"ca": pki["ca"], "cert": pki["server_cert"], "key": pki["server_key"], "require_certificate": True},
                         settings=["acl_file %s" % acl])
    agent(port=broker.port, extra_args=["--tls-ca", pki["ca"], "--tls-cert", pki[thing]["cert"], "--tls-key", pki[thing]["key"]])
    config = _profile(tmp_path, {"site": {"host": "localhost", "port": broker.port, "tlsCA": pki["ca"],
                                          "tlsCert": pki["operator"]["cert"], "tlsKey": pki["operator"]["key"]}}, default="site")
    env = {"EDGECTL_CONFIG": str(config)}

    def healthy():
        listed = _run(agent_bin, "things", "--json", env=env)
        assert listed.returncode in (0, 1), listed
        fleet = {entry["thing"]: entry["health"] for entry in json.loads(listed.stdout or "[]")}
        return fleet.get(thing, {}).get("connection", {}).get("delivering") and fleet[thing]
    health = h.poll_until(healthy, h.WAIT, "the agent online under the shipped ACL, its delivery check passed")
    assert health["connection"]["tls"] is True and health["connection"]["deafSessions"] == 0, health["connection"]

    deployed = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", thing, env=env)
    assert deployed.returncode == 0 and "SUCCEEDED" in deployed.stdout, deployed
    invoked = _run(agent_bin, "invoke", "--thing", thing, "--function", "echo", "--event", '{"n": 7}', "--json", env=env)
    assert invoked.returncode == 0, invoked
    answer = json.loads(invoked.stdout)
    assert answer["result"]["status"] == "ok" and answer["result"]["result"]["echo"]["n"] == 7, answer
    assert 0 < answer["roundTripMs"] < 10000, answer
    plain = _run(agent_bin, "invoke", "--thing", thing, "--function", "echo", "--event", '{"n": 8}', env=env)
    assert plain.returncode == 0 and "round trip" in plain.stdout and '"n":8' in plain.stdout.replace(" ", ""), plain
    unknown = _run(agent_bin, "invoke", "--thing", thing, "--function", "nosuch", env=env)
    assert unknown.returncode == 1 and "UnknownFunction" in unknown.stdout, unknown
    checked = _run(agent_bin, "check", thing, "--json", env=env)
    assert checked.returncode == 0, checked
    report = {}
    for line in json.loads(checked.stdout)["checks"]:
        report.setdefault(line["check"], []).append(line)
    assert report["broker"][0]["level"] == "OK" and "(MQTT 5)" in report["broker"][0]["message"], report["broker"]
    assert report["agent"][0]["level"] == "OK" and "answered in" in report["agent"][0]["message"], report["agent"]
    assert report["clock"][0]["level"] == "OK", report["clock"]
    # make_tls_material issues certificates for 2 days: each is said to expire soon.
    assert [line["level"] for line in report["tls"]] == ["WARN"] * 3, report["tls"]
    assert "the broker's certificate" in report["tls"][0]["message"] and "expires in 1 days" in report["tls"][0]["message"]
    assert report["function"][0]["level"] == "OK", report["function"]
    # The control topic under the same ACL: the device reads it, answers on edgectl/replies/.
    restarted = _run(agent_bin, "restart", thing, "echo", "--json", env=env)
    assert restarted.returncode == 0 and json.loads(restarted.stdout)["state"] == "RUNNING", restarted
    own = _run(agent_bin, "logs", thing, "--lines", "500", env=env)
    assert own.returncode == 0 and "function restart requested" in own.stdout, own
    stopped = _run(agent_bin, "stop", thing, "echo", "--json", env=env)
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["state"] == "DISABLED", stopped
    shadow = _run(agent_bin, "shadow", "get", "--thing", thing, env=env)
    assert shadow.returncode == 0 and json.loads(shadow.stdout)["state"]["desired"]["functions"]["echo"]["enabled"] is False, shadow
    assert _run(agent_bin, "start", thing, "echo", env=env).returncode == 0
    status = _run(agent_bin, "status", "--thing", thing, "--json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "SUCCEEDED", status
    health = _run(agent_bin, "health", "--thing", thing, "--json", env=env)
    assert health.returncode == 0 and json.loads(health.stdout)["functions"]["echo"]["state"] in ("RUNNING", "STARTING"), health
    cleared = _run(agent_bin, "undeploy", "--thing", thing, env=env)
    assert cleared.returncode == 0 and "cleared edge/things/%s/deployment" % thing in cleared.stdout, cleared


def test_check_says_what_is_wrong_with_a_thing_and_how_to_fix_it(agent, broker, thing, agent_bin, tmp_path, make_observer):
    env = {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "20"}
    unknown = _run(agent_bin, "check", h.unique("nobody-"), env=env)
    assert unknown.returncode == 1 and "FAIL agent" in unknown.stdout and "edgectl things" in unknown.stdout, unknown

    script = tmp_path / "quiet"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    running = agent()
    document = tmp_path / "quiet.json"
    document.write_text(json.dumps(h.document("quiet", 1, {"quiet": {
        "version": "1", "command": ["quiet"], "artifacts": [h.artifact(script, name="quiet")],
        "restart": {"maxFailures": 1}}}, onFailure="none")))
    deployed = _run(agent_bin, "deploy", document, "--thing", thing, env=env)
    assert deployed.returncode == 1 and "FAILED" in deployed.stdout, deployed
    # check reads the retained health report: the one that says BROKEN, which may follow the status.
    make_observer(broker.port).wait_for("edge/things/%s/health" % thing,
                                        lambda m: m.json["functions"]["quiet"]["state"] == "BROKEN", what="health saying BROKEN")
    broken = _run(agent_bin, "check", thing, env=env)
    assert broken.returncode == 1, broken
    lines = broken.stdout.splitlines()
    assert any(line.startswith("OK   agent") for line in lines), lines
    failing = [line for line in lines if line.startswith("FAIL function")]
    assert failing and "quiet is BROKEN: exited with code 3, printing nothing" in failing[0], lines
    assert any("fix: fix it and deploy a new revision" in line for line in lines), lines
    assert any(line.startswith("WARN deployment") and "FAILED" in line for line in lines), lines

    running.stop()
    offline = _run(agent_bin, "check", thing, env=env)
    assert offline.returncode == 1 and "is offline (agent stopped)" in offline.stdout, offline


def test_stop_and_start_a_function_through_the_control_topic_kept_in_the_shadow(agent, broker, thing, agent_bin, tmp_path, echo_bin, make_observer):
    agent()
    env = {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "20"}
    assert _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--thing", thing, env=env).returncode == 0
    stopped = _run(agent_bin, "stop", thing, "echo", "--json", env=env)
    assert stopped.returncode == 0, stopped
    assert json.loads(stopped.stdout) == {"thing": thing, "function": "echo", "enabled": False, "state": "DISABLED"}
    edge = h.Edge(make_observer(broker.port), thing)
    shadow = h.ShadowClient(broker.port, thing).start()
    try:
        # The agent reports in the shadow shortly after health (its report is coalesced).
        h.poll_until(lambda: shadow.get()["state"]["reported"]["functions"]["echo"]["state"] == "DISABLED", 10,
                     "the classic shadow reporting echo DISABLED", interval=0.2)
    finally:
        shadow.close()
    started = _run(agent_bin, "start", thing, "echo", env=env)
    assert started.returncode == 0 and "started echo on %s: RUNNING" % thing in started.stdout, started
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["status"] == "ok"
    missing = _run(agent_bin, "stop", thing, "nosuch", env=env)
    assert missing.returncode == 1 and "has no function nosuch (it has: echo)" in missing.stderr, missing


def test_deploy_to_a_group_follows_every_member_and_names_those_that_failed(agent, broker, tmp_path, agent_bin, echo_bin,
                                                                             make_observer):
    group = h.unique("line-")
    names = sorted(h.unique("cam-") for _ in range(3))
    agents = [agent(thing_name=name, groups=(group,), state_dir=tmp_path / name) for name in names]
    outsider = agent(thing_name=h.unique("other-"), state_dir=tmp_path / "other")
    observer = make_observer(broker.port)
    for name in names + [outsider.thing]:
        observer.wait_for("edge/things/%s/health" % name, lambda m: m.json.get("status") == "online", what="%s online" % name)
    agents[2].stop()
    observer.wait_for("edge/things/%s/health" % names[2], lambda m: m.json.get("status") == "offline", what="%s offline" % names[2])
    env = {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "60"}

    deployed = _run(agent_bin, "deploy", _deployment(tmp_path, echo_bin, "echo", 1), "--group", group, "--json", env=env)
    assert deployed.returncode == 0, deployed
    outcome = json.loads(deployed.stdout)
    assert outcome["results"] == [{"thing": names[0], "status": "SUCCEEDED"}, {"thing": names[1], "status": "SUCCEEDED"},
                                  {"thing": names[2], "status": "OFFLINE"}], outcome
    assert outcome["succeeded"] == 2 and outcome["failed"] == 0 and outcome["offline"] == [names[2]], outcome

    script = tmp_path / "quiet"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(h.document("echo", 2, {"quiet": {
        "version": "1", "command": ["quiet"], "artifacts": [h.artifact(script, name="quiet")], "restart": {"maxFailures": 1}}})))
    failed = _run(agent_bin, "deploy", broken, "--group", group, env=env)
    assert failed.returncode == 1, failed
    assert "following 2 online members of group %s (1 offline" % group in failed.stdout, failed.stdout
    for name in names[:2]:
        assert "%s: ROLLED_BACK — " % name in failed.stdout, failed.stdout
    assert "0 of 2 online members of group %s SUCCEEDED" % group in failed.stdout, failed.stdout
    assert "offline, not waited for: %s" % names[2] in failed.stdout, failed.stdout
    assert "2 members of group %s did not take the deployment: %s ROLLED_BACK, %s ROLLED_BACK" % (group, names[0], names[1]) \
        in failed.stderr, failed.stderr


def test_validate_and_deploy_print_json(agent_bin, tmp_path, echo_bin):
    good = _run(agent_bin, "validate", _deployment(tmp_path, echo_bin, "echo", 4), "--json")
    assert good.returncode == 0 and json.loads(good.stdout) == {"valid": True, "deploymentId": "echo", "revision": 4,
                                                                  "functions": ["echo"], "signedBy": []}, good
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"deploymentId": "x", "revision": 0, "functions": {}}))
    refused = _run(agent_bin, "validate", bad, "--json")
    assert refused.returncode == 1, refused
    issues = json.loads(refused.stdout)
    assert issues["valid"] is False and any(issue["path"] == "revision" for issue in issues["issues"]), issues
    nothing = _run(agent_bin, "deploy", bad, "--thing", "t", "--json")
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["published"] is False, nothing
