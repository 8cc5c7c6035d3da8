"""Soak: BENCH_SOAK_INVOCATIONS invocations through ten long-lived native functions (edge-loadgen
at saturation, QoS 1 both ways, so every result goes through the outbox on disk), after a
warm-up of BENCH_SOAK_WARMUP. The agent's resident memory (VmRSS, RssAnon), its open descriptors
and the outbox's files on disk are read after the warm-up and at the end, each after
BENCH_SOAK_SETTLE seconds of quiet: beyond the warm-up nothing may grow (a leak of a descriptor
or of memory per invocation shows as growth here)."""

import time

from harness import memory_of, native_function, sha256_of

from ..thing import Thing, things_observer

SETTINGS = {
    "BENCH_SOAK_INVOCATIONS": (1000000, 100000, "invocations after the warm-up"),
    "BENCH_SOAK_WARMUP": (50000, 20000, "invocations before the first reading"),
    "BENCH_SOAK_SETTLE": (3, 2, "seconds of quiet before each reading"),
}

FUNCTIONS = 10


def _reading(agent):
    mem = memory_of(agent.pid)
    for line in open("/proc/%d/status" % agent.pid):
        key, _, rest = line.partition(":")
        if key == "RssAnon":
            mem["rssAnonKB"] = int(rest.split()[0])
    mem["outboxBytes"] = sum(p.stat().st_size for p in agent.state_dir.glob("outbox.db*"))
    return mem


def _load(ctx, port, requests):
    return ctx.loadgen(["run", "--port", port, "--topic", "bench/soak/{i}/in", "--topics", FUNCTIONS,
                        "--reply", "bench/soak/out", "--qos", 1, "--rate", 0, "--window", 64, "--requests", requests],
                       timeout=ctx.timeout + requests / 200)


def run(ctx):
    invocations = int(ctx.setting("BENCH_SOAK_INVOCATIONS"))
    warmup = int(ctx.setting("BENCH_SOAK_WARMUP"))
    settle = float(ctx.setting("BENCH_SOAK_SETTLE"))
    broker = ctx.broker("soak-broker")
    bus = things_observer(broker.port, ctx.timeout)
    try:
        agent = ctx.agent("soak", "bench-soak", broker.port)
        sha = sha256_of(ctx.echo_bin)
        functions = {"echo-%02d" % i: native_function(ctx.echo_bin, version="1", sha256=sha, qos=1,
                                                       subscriptions=["bench/soak/%d/in" % i], output="bench/soak/out")
                     for i in range(FUNCTIONS)}
        Thing(bus, agent, ctx.timeout).deploy("bench-soak", functions, FUNCTIONS)
        warm = _load(ctx, broker.port, warmup)
        time.sleep(settle)  # the reading's quiet window
        start = _reading(agent)
        ctx.log("  after a warm-up of %d: VmRSS %.1f MB, %d descriptors" % (warmup, start["vmRssKB"] / 1024, start["fds"]))
        began = time.monotonic()
        load = _load(ctx, broker.port, invocations)
        seconds = time.monotonic() - began
        agent.check_alive()
        time.sleep(settle)
        end = _reading(agent)
    finally:
        bus.close()
    result = {"warmup": warmup, "invocations": invocations, "answered": load["received"], "errors": load["errors"],
              "missing": load["missing"], "seconds": round(seconds, 1), "throughput": load["throughput"],
              "start": start, "end": end, "warmupThroughput": warm["throughput"], "command": load["command"]}
    ctx.log("  %d invocations in %.0f s: VmRSS %.1f → %.1f MB, descriptors %d → %d"
            % (load["received"], seconds, start["vmRssKB"] / 1024, end["vmRssKB"] / 1024, start["fds"], end["fds"]))
    problems = []
    if load["received"] != invocations:
        problems.append("soak: %d of %d invocations answered (%d errors, %d missing)"
                        % (load["received"], invocations, load["errors"], load["missing"]))
    if end["fds"] != start["fds"]:
        problems.append("soak: the agent's descriptors went from %d to %d" % (start["fds"], end["fds"]))
    # A page or two moves with the allocator's arenas; a leak per invocation would be megabytes.
    if end["rssAnonKB"] - start["rssAnonKB"] > 256:
        problems.append("soak: the agent's anonymous memory grew by %d kB over %d invocations"
                        % (end["rssAnonKB"] - start["rssAnonKB"], invocations))
    return {"json": result, "table": _table(result), "problems": problems}


def _table(r):
    s, e = r["start"], r["end"]
    return "\n".join([
        "### Soak", "",
        "%d invocations (QoS 1 both ways, 10 native functions) in %.0f s (%s/s), after a warm-up of %d; %d answered."
        % (r["invocations"], r["seconds"], r["throughput"], r["warmup"], r["answered"]), "",
        "| | after the warm-up | at the end | growth |", "|---|---:|---:|---:|",
        "| VmRSS | %.1f MB | %.1f MB | %+d kB |" % (s["vmRssKB"] / 1024, e["vmRssKB"] / 1024, e["vmRssKB"] - s["vmRssKB"]),
        "| RssAnon | %.1f MB | %.1f MB | %+d kB |" % (s["rssAnonKB"] / 1024, e["rssAnonKB"] / 1024, e["rssAnonKB"] - s["rssAnonKB"]),
        "| open descriptors | %d | %d | %+d |" % (s["fds"], e["fds"], e["fds"] - s["fds"]),
        "| outbox.db and its log | %.1f MB | %.1f MB | |" % (s["outboxBytes"] / 1e6, e["outboxBytes"] / 1e6),
    ])
