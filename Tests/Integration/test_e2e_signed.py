"""Signed deployments (issue 15): once an agent trusts a key, only deployments signed by a trusted
key are applied. Unsigned, tampered, wrongly signed, unknown-key and replayed documents are
REJECTED with their reason and change nothing, also after the agent restarts; keys rotate (old and
new trusted, then the old removed). Keys and envelopes are made by the real edgectl
(keygen, sign, deploy --sign, undeploy --key); the real agent verifies them."""

import base64
import json
import os
import subprocess

import harness as h


def _edgectl(agent_bin, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGECTL_")}
    return subprocess.run([str(agent_bin.with_name("edgectl"))] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _keygen(agent_bin, keys, name):
    made = _edgectl(agent_bin, "keygen", name, "--out", keys, "--json")
    assert made.returncode == 0, made
    info = json.loads(made.stdout)
    assert oct(os.stat(info["privateKeyFile"]).st_mode & 0o777) == "0o600", info
    return info


def _keys(agent_bin, tmp_path, *names):
    """Keys made by edgectl keygen in <tmp>/keys, one per name."""
    folder = tmp_path / "keys"
    folder.mkdir(exist_ok=True)
    return [_keygen(agent_bin, folder, name) for name in names]


def _trust(path, *keys):
    path.write_text(json.dumps({"deployments": {"trustedKeys": {k["keyid"]: k["publicKey"] for k in keys}}}))


def _sign(agent_bin, tmp_path, doc, key, thing, key_id=None, name=None):
    """The envelope edgectl sign makes of `doc` for `thing` (its target) with `key` (a keygen result)."""
    plain = tmp_path / ("%s-r%d.json" % (name or doc["deploymentId"], doc["revision"]))
    plain.write_text(json.dumps(doc))
    args = ["sign", plain, "--key", key["privateKeyFile"], "--thing", thing] + (["--key-id", key_id] if key_id else [])
    signed = _edgectl(agent_bin, *args)
    assert signed.returncode == 0, signed
    return json.loads(signed.stdout)


def _refused(edge, payload, doc, since, path, text):
    """Publishes `payload` (an envelope or a document) and asserts doc's revision is REJECTED for `path`."""
    edge.publish_deployment(None, raw=json.dumps(payload))
    status = edge.final_status(doc["deploymentId"], doc["revision"], since=since)
    assert status["status"] == "REJECTED", status
    assert [e["path"] for e in status["errors"]] == [path], status
    assert text in status["errors"][0]["message"], status
    return status


def test_only_deployments_signed_by_a_trusted_key_are_applied(agent, edge, echo_bin, tmp_path, agent_bin):
    keys = tmp_path / "keys"
    ops, rogue = _keys(agent_bin, tmp_path, "ops-a", "rogue")
    config = tmp_path / "agent.json"
    _trust(config, ops)
    a = agent(extra_args=["--config", config])

    v1 = h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")})
    since = edge.obs.mark()
    edge.publish_deployment(None, raw=json.dumps(_sign(agent_bin, tmp_path, v1, ops, edge.thing)))
    assert edge.final_status("echo-v1", 1, since=since)["status"] == "SUCCEEDED"
    a.wait_log(r"deployment signature verified.*keyid=ops-a", what="the agent naming the key that signed revision 1")

    # edgectl deploy --sign: validated, signed and published in one step, then followed.
    v2 = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")})
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    deployed = _edgectl(agent_bin, "deploy", tmp_path / "v2.json", "--thing", edge.thing, "--sign", keys / "ops-a.key",
                        "--host", "127.0.0.1", "--port", edge.obs.port)
    assert deployed.returncode == 0 and "SUCCEEDED" in deployed.stdout, deployed
    since = edge.obs.mark()
    pid = edge.function_health("echo", lambda f: f["version"] == "2" and f["state"] == "RUNNING" and f.get("pid"),
                               since=since)["pid"]

    v3 = h.document("echo-v3", 3, {"echo": h.native_function(echo_bin, version="3")})
    _refused(edge, v3, v3, edge.obs.mark(), "(document)", "is not signed")
    # Tampered: the payload changed after it was signed (version 3 → 6).
    tampered = _sign(agent_bin, tmp_path, v3, ops, edge.thing)
    inner = json.loads(base64.b64decode(tampered["payload"]))
    inner["functions"]["echo"]["version"] = "6"
    tampered["payload"] = base64.b64encode(json.dumps(inner).encode()).decode()
    _refused(edge, tampered, v3, edge.obs.mark(), "signatures[0].sig", "does not verify with the trusted key 'ops-a'")
    # Signed with another key under the trusted key's id.
    wrong = _sign(agent_bin, tmp_path, v3, rogue, edge.thing, key_id="ops-a", name="wrong")
    _refused(edge, wrong, v3, edge.obs.mark(), "signatures[0].sig", "does not verify with the trusted key 'ops-a'")
    # Signed by a key the agent does not know.
    unknown = _sign(agent_bin, tmp_path, v3, rogue, edge.thing, name="unknown")
    _refused(edge, unknown, v3, edge.obs.mark(), "signatures", "signed by 'rogue'; trusted: 'ops-a'")
    # Signed for another thing: a valid signature, replayed onto this thing's topic.
    elsewhere = _sign(agent_bin, tmp_path, v3, ops, "cam-elsewhere", name="elsewhere")
    _refused(edge, elsewhere, v3, edge.obs.mark(), "target", "names another thing or group than the topic it came on")
    # A replay: revision 1, validly signed, published again.
    replay = _sign(agent_bin, tmp_path, v1, ops, edge.thing, name="replay")
    _refused(edge, replay, v1, edge.obs.mark(), "revision", "older than revision 2 (echo-v2) already seen")
    # Clearing the topic would stop every function: unsigned, it is refused too.
    since = edge.obs.mark()
    edge.publish_deployment(None, raw="")
    cleared = edge.obs.wait_for(edge.topics.status, lambda m: m.json["status"] == "REJECTED", since=since,
                                what="the unsigned clearing refused").json
    assert "only signed deployments" in cleared["errors"][0]["message"], cleared
    assert edge.function_health("echo", since=edge.obs.mark())["pid"] == pid, "a refused document changed what runs"

    # After a restart the replay is still refused: what was seen is saved.
    a.stop()
    a.start()
    since = edge.obs.mark()
    _refused(edge, replay, v1, since, "revision", "older than revision 2 (echo-v2) already seen")
    edge.function_health("echo", lambda f: f["version"] == "2" and f["state"] == "RUNNING", since=since,
                         what="version 2 running again after the restart")
    # A signed document that lists no function is how a trusting agent is undeployed.
    undeployed = _edgectl(agent_bin, "undeploy", "--thing", edge.thing, "--key", keys / "ops-a.key",
                          "--host", "127.0.0.1", "--port", edge.obs.port)
    assert undeployed.returncode == 0 and "SUCCEEDED: undeploy-r3 revision 3" in undeployed.stdout, undeployed
    assert edge.final_status("undeploy-r3", 3, since=since)["status"] == "SUCCEEDED"


def test_a_key_rotation_trusts_old_and_new_then_only_the_new(agent, edge, echo_bin, tmp_path, agent_bin):
    old, new = _keys(agent_bin, tmp_path, "ops-2026", "ops-2027")
    config = tmp_path / "agent.json"
    _trust(config, old)
    a = agent(extra_args=["--config", config])

    def deploy(revision, *signers, expect="SUCCEEDED"):
        doc = h.document("rot", revision, {"echo": h.native_function(echo_bin, version=str(revision))})
        envelope = _sign(agent_bin, tmp_path, doc, signers[0], edge.thing, name="rot-%s" % signers[0]["keyid"])
        for extra in signers[1:]:
            path = tmp_path / ("rot-%d-env.json" % revision)
            path.write_text(json.dumps(envelope))
            added = _edgectl(agent_bin, "sign", path, "--key", extra["privateKeyFile"])
            assert added.returncode == 0, added
            envelope = json.loads(added.stdout)
        assert [s["keyid"] for s in envelope["signatures"]] == [s["keyid"] for s in signers], envelope
        since = edge.obs.mark()
        edge.publish_deployment(None, raw=json.dumps(envelope))
        status = edge.final_status("rot", revision, since=since)
        assert status["status"] == expect, status
        return status

    deploy(1, old)
    # Step 1: the new key is added beside the old; both are trusted, alone or together.
    _trust(config, old, new)
    a.stop()
    a.start()
    deploy(2, new)
    deploy(3, old)
    deploy(4, old, new)
    # Step 2: the old key is removed; what it signs is refused, what the new one signs is applied.
    _trust(config, new)
    a.stop()
    a.start()
    refused = deploy(5, old, expect="REJECTED")
    assert refused["errors"][0]["path"] == "signatures" and "trusted: 'ops-2027'" in refused["errors"][0]["message"], refused
    deploy(5, new)
    assert edge.function_health("echo", lambda f: f["version"] == "5" and f["state"] == "RUNNING")


def test_a_bad_trusted_key_in_the_configuration_stops_the_agent_naming_it(agent_bin, tmp_path):
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"thingName": "t1", "deployments": {"trustedKeys": {"ops": "c2hvcnQ="}}}))
    started = subprocess.run([str(agent_bin), "--config", str(config), "--state-dir", str(tmp_path / "state")],
                             capture_output=True, text=True, timeout=30)
    assert started.returncode != 0, started
    assert "deployments.trustedKeys.ops" in started.stderr and "32-byte Ed25519 public key" in started.stderr, started


def test_on_the_shipped_broker_an_operator_signs_and_every_bad_document_is_refused(shipped, agent, make_observer, thing,
                                                                                   echo_bin, tmp_path, agent_bin):
    """The same refusals through the shipped configuration (deploy/mosquitto.conf, its ACLs, certs/
    scripts' certificates): the device on its listener, the operator (edgectl) on the operators'."""
    broker, pki, _ = shipped()
    keys = tmp_path / "keys"
    ops, rogue = _keys(agent_bin, tmp_path, "ops", "rogue")
    config = tmp_path / "agent.json"
    _trust(config, ops)
    device = h.tls_files(pki, thing)
    a = agent(port=broker.port, extra_args=["--config", config, "--tls-ca", device["ca"], "--tls-cert", device["cert"],
                                            "--tls-key", device["key"]])
    operator = h.tls_files(pki, "operator")
    edge = h.Edge(make_observer(broker.operator_port, name="operator", tls=operator, filters=("edge/things/#",)), thing)
    edge.health(lambda j: j["status"] == "online", what="the agent online on the shipped broker")
    connection = ["--host", "localhost", "--port", broker.operator_port, "--tls-ca", operator["ca"],
                  "--tls-cert", operator["cert"], "--tls-key", operator["key"]]

    v1 = h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")})
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    signed = _edgectl(agent_bin, "deploy", tmp_path / "v1.json", "--thing", thing, "--sign", keys / "ops.key", *connection)
    assert signed.returncode == 0 and "SUCCEEDED" in signed.stdout, signed
    v2 = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")})
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    unsigned = _edgectl(agent_bin, "deploy", tmp_path / "v2.json", "--thing", thing, *connection)
    assert unsigned.returncode == 1 and "REJECTED" in unsigned.stdout and "is not signed" in unsigned.stdout, unsigned

    tampered = _sign(agent_bin, tmp_path, v2, ops, edge.thing)
    tampered["payload"] = base64.b64encode(base64.b64decode(tampered["payload"]).replace(b'"2"', b'"9"')).decode()
    _refused(edge, tampered, v2, edge.obs.mark(), "signatures[0].sig", "does not verify with the trusted key 'ops'")
    wrong = _sign(agent_bin, tmp_path, v2, rogue, edge.thing, key_id="ops", name="wrong")
    _refused(edge, wrong, v2, edge.obs.mark(), "signatures[0].sig", "does not verify with the trusted key 'ops'")
    unknown = _sign(agent_bin, tmp_path, v2, rogue, edge.thing, name="unknown")
    _refused(edge, unknown, v2, edge.obs.mark(), "signatures", "signed by 'rogue'; trusted: 'ops'")
    v3 = h.document("echo-v3", 3, {"echo": h.native_function(echo_bin, version="3")})
    since = edge.obs.mark()
    edge.publish_deployment(None, raw=json.dumps(_sign(agent_bin, tmp_path, v3, ops, edge.thing)))
    assert edge.final_status("echo-v3", 3, since=since)["status"] == "SUCCEEDED"
    replay = _sign(agent_bin, tmp_path, v1, ops, edge.thing, name="replay")
    _refused(edge, replay, v1, edge.obs.mark(), "revision", "older than revision 3 (echo-v3) already seen")
    a.stop()
    a.start()
    _refused(edge, replay, v1, edge.obs.mark(), "revision", "older than revision 3 (echo-v3) already seen")
