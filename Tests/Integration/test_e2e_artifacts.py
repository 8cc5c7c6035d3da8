"""Artifacts beyond plain files (tar.gz, data: URIs, HTTP) and on-demand functions."""

import base64
import http.server
import io
import json
import re
import tarfile
import threading

import harness as h


def tar_gz(path, entries):
    """Writes a tar.gz at `path` from (name, bytes, mode) entries; returns the path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def test_tar_gz_artifact_is_unpacked_and_runs(agent, edge, tmp_path, echo_bin):
    agent()
    archive = tar_gz(tmp_path / "pkg" / "echo-1.tar.gz", [
        ("bin/echo", echo_bin.read_bytes(), 0o755),
        ("share/README", b"packaged echo\n", 0o644),
    ])
    spec = {"version": "1", "command": ["bin/echo"],
            "artifacts": [h.artifact(archive, unarchive="tar.gz")],
            "subscriptions": [{"topic": "pkg/+/in", "qos": 1}]}
    edge.deploy(h.document("tar-v1", 1, {"packaged": spec}))
    result = edge.send("pkg/+/in", {"from": "tar"}, "packaged")
    assert result["status"] == "ok" and result["result"]["echo"] == {"from": "tar"}, result


def test_archive_leaving_its_directory_fails_and_keeps_what_runs(agent, edge, tmp_path, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    evil = tar_gz(tmp_path / "evil" / "evil.tar.gz", [("../escaped", b"boo\n", 0o644)])
    spec = h.native_function(echo_bin, version="2")
    spec["artifacts"].append(h.artifact(evil, unarchive="tar.gz"))
    status = edge.deploy(h.document("echo-v2", 2, {"echo": spec}), expect="FAILED")
    assert "functions.echo.artifacts[1]" in status["reason"] and "escaped" in status["reason"], status
    assert not (tmp_path / "escaped").exists()
    result = edge.send("sensors/+/x", {"still": "v1"}, "echo")
    assert result["status"] == "ok" and result["version"] == "1", result


def test_data_uri_module(agent, edge, python_launcher):
    agent(extra_args=["--python", str(python_launcher)])
    source = b"def handler(event, context):\n    return {'twice': event['n'] * 2}\n"
    data = "data:text/x-python;base64," + base64.b64encode(source).decode()
    spec = {"version": "1", "runtime": "python3", "handler": "inline.handler",
            "artifacts": [{"uri": data, "sha256": h.sha256_bytes(source), "name": "inline.py"}],
            "subscriptions": [{"topic": "inline/+/in", "qos": 1}]}
    edge.deploy(h.document("inline-v1", 1, {"inline": spec}))
    result = edge.send("inline/+/in", {"n": 21}, "inline")
    assert result["status"] == "ok" and result["result"] == {"twice": 42}, result


def test_on_demand_starts_on_events_scales_and_idles_out(agent, edge, echo_bin):
    handle = agent()
    spec = h.native_function(echo_bin, subscriptions=["od/+/in"], lifecycle="on-demand", concurrency=2,
                             idleTimeoutMs=400, timeoutMs=10000)
    edge.deploy(h.document("od-v1", 1, {"od": spec}))
    # The instance started to prove the function loads goes away once idle.
    edge.function_health("od", lambda f: f["state"] == "IDLE" and f["pids"] == [], what="od IDLE with no process")
    h.poll_until(lambda: handle.children() == [], 10, "no function process left while od is idle")

    # Two slow events at once get two processes (concurrency 2).
    since = edge.obs.mark()
    for n in range(2):
        edge.obs.publish("od/slow%d/in" % n, json.dumps({"sleepMs": 1500, "n": n}), qos=1)
    h.poll_until(lambda: len(handle.children()) == 2, 10, "two on-demand processes for two events in flight")
    results = edge.obs.wait_count(edge.topics.results("od"), lambda m: m.json["sourceTopic"].startswith("od/slow"),
                                  2, since=since, timeout=20, what="both slow events answered")
    assert all(m.json["status"] == "ok" for m in results), [m.json for m in results]

    # And they stop again after idleTimeoutMs.
    h.poll_until(lambda: handle.children() == [], 10, "on-demand processes stopped after idleTimeoutMs")
    edge.function_health("od", lambda f: f["state"] == "IDLE" and f["restarts"] == 0 and f["invocations"] >= 2,
                         what="od IDLE again, 2 invocations, no restarts")


class _ArtifactServer:
    """A plain HTTP server on 127.0.0.1 serving one folder, counting its GET requests."""

    def __init__(self, folder):
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.server.server_address[1], name)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _maps_libcurl(pid):
    """A mapped libcurl*.so file (not any path with "libcurl" in it: the outbox's shared memory
    file lives in a state folder named after this test)."""
    return re.search(r"/libcurl[^/\s]*\.so", open("/proc/%d/maps" % pid).read()) is not None


def test_http_artifact_loads_libcurl_only_when_needed(agent, edge, tmp_path, echo_bin):
    handle = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    assert not _maps_libcurl(handle.pid), "libcurl was mapped by an agent that fetched nothing over HTTP"

    served = tmp_path / "served"
    served.mkdir()
    # Bytes after the end of an ELF file are ignored when it runs: a digest the store does not hold yet.
    (served / "echo").write_bytes(echo_bin.read_bytes() + b"\0served over http\n")
    with _ArtifactServer(served) as server:
        # A wrong digest over HTTP fails the deployment, names the artifact and keeps what runs.
        spec = h.native_function(echo_bin, version="2")
        spec["artifacts"] = [{"uri": server.url("echo"), "sha256": "0" * 64, "name": "echo"}]
        status = edge.deploy(h.document("echo-v2", 2, {"echo": spec}), expect="FAILED")
        assert "functions.echo.artifacts[0]" in status["reason"], status

        spec["version"] = "3"
        spec["artifacts"][0]["sha256"] = h.sha256_of(served / "echo")
        edge.deploy(h.document("echo-v3", 3, {"echo": spec}))
        assert server.requests == ["/echo", "/echo"], server.requests
    assert _maps_libcurl(handle.pid), "libcurl should stay loaded after an HTTP fetch"
    result = edge.send("sensors/+/x", {"over": "http"}, "echo")
    assert result["status"] == "ok" and result["version"] == "3" and result["result"]["echo"] == {"over": "http"}, result


def _big_tar_gz(path, megabytes):
    """A tar.gz with one member of `megabytes` MiB of zeros (a few hundred KB compressed), written
    in pieces so the test itself stays small."""
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    size = megabytes << 20
    info = tarfile.TarInfo("model.bin")
    info.size = size
    info.mode = 0o644
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(info.tobuf(format=tarfile.GNU_FORMAT))
        piece = b"\0" * (1 << 20)
        for _ in range(megabytes):
            out.write(piece)
        out.write(b"\0" * 1024)  # the end-of-archive marker (the member is block-aligned)
    return path


def test_a_large_archive_member_is_unpacked_in_bounded_memory(agent, edge, tmp_path, echo_bin):
    a = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    before = h.memory_of(a.pid)["vmHwmKB"]
    archive = _big_tar_gz(tmp_path / "big" / "model.tar.gz", 256)
    spec = h.native_function(echo_bin, version="2")
    spec["artifacts"].append(h.artifact(archive, unarchive="tar.gz"))
    edge.deploy(h.document("echo-v2", 2, {"echo": spec}), timeout=120)
    after = h.memory_of(a.pid)["vmHwmKB"]
    # Before streaming, the whole 256 MiB member went through the agent's memory.
    assert after - before < 16 * 1024, "the agent's peak grew from %d to %d kB unpacking a 256 MiB member" % (before, after)
    folder = next((a.state_dir / "functions" / "echo").glob("2-*"))
    assert (folder / "model.bin").stat().st_size == 256 << 20
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "2"
