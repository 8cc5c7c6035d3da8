"""The signing benchmark: what signed deployments (issue 15) cost the agent. Run it through
`bash scripts/bench.sh signing`, which builds the binaries and makes the work folder.

For each transport (plain MQTT on loopback, and mutual TLS with the shipped broker configuration
and certificates made by the certs/ scripts) and each mode (no trusted key and plain documents;
a trusted key and documents signed by edgectl sign), one agent (`--cgroups off`) takes N
deployments one after the other, each a new revision of a document with no function (so the
figure is the document's path: receive, verify, validate, save, status, and nothing else), each
timed from its publish to its SUCCEEDED status. Then the agent's memory: VmRSS, and how much of
libcrypto is resident (the provider libcrypto loads on first use of EVP, which TLS loads anyway).
Also the time `edgectl sign` takes, as an operator runs it (one process per document).

Every wait has a deadline and fails naming what it waited for; everything started here is stopped
in `finally`. Settings: SETTINGS below and benchmarks/README.md."""

import argparse
import json
import subprocess
import time
from pathlib import Path

from harness import Edge, Observer, ShippedBroker, make_certificates, memory_of, tls_files

from .driver import add_common_arguments, run
from .figures import fmt_mb, fmt_ms, machine, machine_line, summary, write_figures
from .launch import bench_agent, bench_broker
from .settings import QUICK, BenchError, read_setting

SETTINGS = {
    "BENCH_DEPLOYS": (100, 20, "signed (or plain) deployments per agent, one after the other"),
    "BENCH_TIMEOUT": (60, 60, "deadline in seconds of each wait"),
}


def _libcrypto_kb(pid):
    """The resident kB of libcrypto's mappings in `pid`."""
    total, current = 0, False
    with open("/proc/%d/smaps" % pid) as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                current = len(fields) > 5 and "libcrypto" in fields[5]
            elif fields[0] == "Rss:" and current:
                total += int(fields[1])
    return total


def _one(args, workdir, name, transport, signed, key, deploys, timeout):
    """Runs one agent through `deploys` deployments; returns its figures."""
    thing = "sign-%s-%s" % (transport, "signed" if signed else "plain")
    folder = workdir / name
    folder.mkdir()
    pki = make_certificates(folder / "pki", (thing,)) if transport == "tls" else None
    broker = (ShippedBroker(folder / "broker", pki) if pki else bench_broker(folder / "broker", workdir / "pids", timeout))
    observer = agent = None
    try:
        if pki:
            broker.start(timeout)
        config = folder / "agent.json"
        config.write_text(json.dumps({"deployments": {"trustedKeys": {"ops": key["publicKey"]}}} if signed else {}))
        extra = ["--config", str(config)]
        if pki:
            device = tls_files(pki, thing)
            extra += ["--tls-ca", device["ca"], "--tls-cert", device["cert"], "--tls-key", device["key"]]
        agent = bench_agent(args.agent, name, thing, broker.port, workdir, args.runtime_dir, None, extra_args=extra).start()
        port = broker.operator_port if pki else broker.port
        observer = Observer(port, name="bench-" + name, tls=tls_files(pki, "operator") if pki else None,
                            filters=("edge/things/#",)).start()
        edge = Edge(observer, thing)
        edge.health(lambda j: j["status"] == "online", timeout=timeout, what="%s online" % thing)
        # Every document is made (and signed) first, so that both modes publish back to back.
        documents, sign_ms = [], []
        for revision in range(1, deploys + 1):
            doc = {"deploymentId": "bench-%d" % revision, "revision": revision, "functions": {}}
            payload = json.dumps(doc)
            if signed:
                path = folder / "doc.json"
                path.write_text(payload)
                started = time.monotonic()
                made = subprocess.run([args.edgectl, "sign", str(path), "--key", key["privateKeyFile"]],
                                      capture_output=True, text=True, timeout=timeout, check=True)
                sign_ms.append((time.monotonic() - started) * 1000)
                payload = made.stdout
            documents.append((doc, payload))
        times = []
        for doc, payload in documents:
            since = observer.mark()
            started = time.monotonic()
            edge.publish_deployment(None, raw=payload)
            status = edge.final_status(doc["deploymentId"], doc["revision"], since=since, timeout=timeout)
            times.append((time.monotonic() - started) * 1000)
            if status["status"] != "SUCCEEDED":
                raise BenchError("%s revision %d ended %s: %s" % (thing, doc["revision"], status["status"], status))
        memory = memory_of(agent.pid)
        return {"transport": transport, "signed": signed, "deployMs": summary(times), "signMs": summary(sign_ms),
                "vmRssKB": memory["vmRssKB"], "libcryptoKB": _libcrypto_kb(agent.pid)}
    finally:
        if observer:
            observer.close()
        if agent:
            agent.stop()
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, "signing", edgectl_required=True)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    deploys = read_setting(SETTINGS, "BENCH_DEPLOYS")
    timeout = read_setting(SETTINGS, "BENCH_TIMEOUT")
    made = subprocess.run([args.edgectl, "keygen", "ops", "--out", str(workdir), "--json"], capture_output=True,
                          text=True, timeout=timeout, check=True)
    key = json.loads(made.stdout)
    runs = []
    for transport in ("plain", "tls"):
        for signed in (False, True):
            name = "%s-%s" % (transport, "signed" if signed else "plain")
            print("== %s: %d deployments" % (name, deploys), flush=True)
            runs.append(_one(args, workdir, name, transport, signed, key, deploys, timeout))
    info = machine()
    lines = ["# Signed deployments (%d deployments each%s)" % (deploys, ", quick" if QUICK else ""), "",
             "- agent: %s" % args.revision, machine_line(info), "- reproduce: %s" % args.command, "",
             "| transport | documents | publish → SUCCEEDED median | p90 | agent VmRSS | of it libcrypto | edgectl sign median |",
             "|---|---|---|---|---|---|---|"]
    for one in runs:
        lines.append("| %s | %s | %s ms | %s ms | %s | %s | %s |" % (
            "mutual TLS (shipped broker)" if one["transport"] == "tls" else "plain MQTT",
            "signed, key trusted" if one["signed"] else "plain, no key",
            fmt_ms(one["deployMs"].get("median")), fmt_ms(one["deployMs"].get("p90")), fmt_mb(one["vmRssKB"]),
            fmt_mb(one["libcryptoKB"]), (fmt_ms(one["signMs"].get("median")) + " ms") if one["signed"] else "—"))
    write_figures({"benchmark": "signing", "revision": args.revision, "command": args.command, "machine": info,
                   "deploys": deploys, "runs": runs}, lines, args.out)
    return 0


if __name__ == "__main__":
    run(main, "signing benchmark")
