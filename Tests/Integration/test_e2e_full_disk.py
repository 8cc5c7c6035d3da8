"""A full disk under a running agent (a 4 MiB tmpfs as its state directory): a deployment that
cannot be saved is rolled back, never reported SUCCEEDED; the agent keeps serving, says what is
wrong in health, and carries on once there is room again (issue 12)."""

import errno
import gzip
import os
import subprocess
import tarfile

import harness as h


def _fill(folder):
    """Writes a file until the file system is full; returns its path."""
    filler = folder / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    # What tmpfs accepted in the page cache is now on "disk": nothing more fits.
    return filler


def test_a_deployment_that_cannot_be_saved_is_rolled_back_and_the_agent_keeps_serving(agent, edge, echo_bin):
    h.require_root()
    state = h.shared_location("small-disk")
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0711", "tmpfs", str(state)], check=True)
    try:
        a = agent(state_dir="small-disk")
        edge.deploy(h.document("disk", 1, {"echo": h.native_function(echo_bin, version="1")}))
        since = edge.obs.mark()
        # The same artifact under a new version: nothing new to store, only the save can fail.
        edge.publish_deployment(h.document("disk", 2, {"echo": h.native_function(echo_bin, version="2")}, healthySeconds=2))
        edge.obs.wait_for(edge.topics.status, lambda m: m.json.get("revision") == 2 and "watching" in m.json.get("reason", ""),
                          since=since, what="revision 2 ready and watched")
        filler = _fill(state)
        final = edge.final_status("disk", 2, since=since)
        assert final["status"] == "ROLLED_BACK", final
        assert "could not be saved" in final["reason"] and "No space left on device" in final["reason"], final
        event = edge.event("agent.persist_failed", since=since)
        assert "No space left on device" in event["message"], event
        # Each status once: a commit the full disk refused must not bring back messages the broker
        # already acknowledged (the outbox holds the writes in memory, deletions included).
        statuses = [m.payload for m in edge.obs.seen(edge.topics.status, None, since)]
        assert len(statuses) == len(set(statuses)), "a deployment status was sent again: %s" % statuses
        # With the disk full, the agent keeps answering and loses nothing: every answer goes
        # through the outbox (whose log, already allocated, may still take them; if it cannot,
        # they wait in memory and health says outbox.problem).
        for n in range(50):
            assert edge.send("sensors/+/x", {"n": n}, "echo")["version"] == "1", "the saved version serves"
        a.check_alive()

        # Room again: the next deployment is saved and succeeds, and health clears.
        os.remove(filler)
        since = edge.obs.mark()
        edge.deploy(h.document("disk", 3, {"echo": h.native_function(echo_bin, version="3")}))
        assert edge.send("sensors/+/x", {"n": 2}, "echo")["version"] == "3"
        edge.health(lambda j: "problem" not in j["outbox"], since=since, what="health with the outbox writing again")
        saved = (state / "deployments.json").read_text().replace(" ", "")
        assert '"revision":3' in saved, saved[:300]
    finally:
        # Lazily: the agent (stopped by the fixture after this) may still hold files there.
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_an_archive_larger_than_the_free_space_fails_before_anything_is_written(agent, edge, echo_bin, tmp_path):
    h.require_root()
    state = h.shared_location("small-disk")
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0711", "tmpfs", str(state)], check=True)
    try:
        agent(state_dir="small-disk")
        edge.deploy(h.document("bomb", 1, {"echo": h.native_function(echo_bin, version="1")}))
        # 64 MiB of zeros: a 64 KiB download that would fill the 8 MiB file system eight times over.
        archive = tmp_path / "bomb" / "bomb.tar.gz"
        archive.parent.mkdir()
        with gzip.open(archive, "wb", compresslevel=9) as out:
            info = tarfile.TarInfo("zeros.bin")
            info.size = 64 << 20
            out.write(info.tobuf(format=tarfile.GNU_FORMAT))
            for _ in range(64):
                out.write(b"\0" * (1 << 20))
            out.write(b"\0" * 1024)
        spec = h.native_function(echo_bin, version="2")
        spec["artifacts"].append(h.artifact(archive, unarchive="tar.gz"))
        status = edge.deploy(h.document("bomb", 2, {"echo": spec}), expect="FAILED")
        assert "functions.echo.artifacts[1]" in status["reason"] and "not enough space" in status["reason"], status
        assert "need 64.0 MB" in status["reason"], status
        assert not list(state.glob("functions/echo/2-*")), "nothing of the failed version stays"
        assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "1"
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
