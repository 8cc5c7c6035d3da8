"""report.md of `edge-model fit`: a table of the variants, the choice, and every trial tried."""


def _cell(value, form="%s"):
    return "–" if value is None else form % value


def _accuracy(value):
    return "–" if value is None else "%.1f %%" % (100 * value)


def _size(value):
    if not value:
        return "–"
    if value < 1000:
        return "%d B" % value
    return "%.2f MB" % (value / 1e6) if value >= 100e3 else "%.1f kB" % (value / 1e3)


def _limits(limits):
    return ", ".join("%s %s" % (k, v) for k, v in sorted(limits.items()) if v is not None)


def markdown(report):
    lines = ["# edge-model fit: %s on %s" % (report["function"], report["thing"]), ""]
    lines.append("Deployment `%s`, task `%s` (%s), %d requests a trial, memory margin %g %% (step %d MB, ceiling %d MB)%s."
                 % (report["deployment"], report["task"], report["metric"], report["count"],
                    report["memoryMarginPercent"], report["memoryStepMB"], report["memoryCeilingMB"],
                    ", p99 target %g ms" % report["latencyTargetMs"] if report.get("latencyTargetMs") else ""))
    lines.append("")
    lines.append("Accuracy from the baseline trial (under the ceiling); p50/p99 round trips through MQTT from the "
                 "verification run under the limits found; peak memory from the agent's health (the cgroup's peak).")
    lines.append("")
    lines.append("| variant | size | %s | p50 | p99 | peak memory | smallest memoryMB | memoryMB (+margin) | cpus | pids | verified |"
                 % report["metric"])
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in report["variants"]:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            v["name"] + (" **(chosen)**" if v["name"] == report.get("chosen") else ""), _size(v.get("sizeBytes")),
            _accuracy(v.get("accuracy")), _cell(v.get("p50Ms"), "%.1f ms"), _cell(v.get("p99Ms"), "%.1f ms"),
            _cell(v.get("peakMemoryMB"), "%.1f MB"), _cell(v.get("minimumMemoryMB")), _cell(v.get("memoryMB")),
            _cell(v.get("cpus"), "%g"), _cell(v.get("pids")), "yes" if v.get("verified") else "no"))
    lines.append("")
    for v in report["variants"]:
        if v.get("reason"):
            lines.append("- %s: %s" % (v["name"], v["reason"]))
    if report.get("chosen"):
        lines.append("Chosen: **%s**; its deployment with these limits: `deployment.json`%s." % (
            report["chosen"], " (and `deployment.template.json`, with `__EXAMPLE_DIR__` for the example's folder)"
            if report.get("deploymentTemplate") else ""))
    else:
        lines.append("No variant fits: no deployment written.")
    hold = report.get("hold")
    if hold:
        lines.append("")
        lines.append("Held over %d requests under %s: %s. %d answered, %d OOM kills, %d timeouts, %d errors; "
                     "round trip p50 %s, p99 %s, max %s%s." % (
                         hold["sent"], _limits(hold["limits"]), "**held**" if hold["held"] else "**did not hold**",
                         hold["answered"], hold["oomKills"], hold["timeouts"], hold["errors"],
                         _cell(hold["p50Ms"], "%.1f ms"), _cell(hold["p99Ms"], "%.1f ms"), _cell(hold["maxMs"], "%.1f ms"),
                         "; %d over the %g ms target" % (hold["overTarget"], hold["latencyTargetMs"])
                         if hold.get("overTarget") is not None else ""))
    lines.append("")
    for plot in report.get("plots", []):
        lines.append("![%s](%s)" % (plot, plot))
    lines.append("")
    lines.append("## Trials")
    for v in report["variants"]:
        lines.append("")
        lines.append("### %s" % v["name"])
        lines.append("")
        lines.append("| # | purpose | limits | status | answered | OOM kills | peak memory | peak pids | CPU throttled "
                     "| p99 | %s | outcome |" % report["metric"])
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for t in report["trials"]:
            if t["trial"] not in v["trials"]:
                continue
            lines.append("| %d | %s | %s | %s | %d/%d | %d | %s | %s | %s | %s | %s | %s |" % (
                t["trial"], t["purpose"], _limits(t["limits"]), t["status"], t["answered"] - t["errors"], t["sent"],
                t["oomKills"], _cell(t["peakMemoryBytes"] and round(t["peakMemoryBytes"] / (1 << 20), 1), "%s MB"),
                _cell(t["peakPids"]), _cell(t["cpuThrottledUsec"] and t["cpuThrottledUsec"] / 1e6, "%.2f s"),
                _cell(t["p99Ms"], "%.1f ms"), _accuracy(t["score"]),
                "fits" if t["passed"] else t["verdict"]))
    lines.append("")
    return "\n".join(lines)


def summary(report):
    """The few lines fit prints at the end."""
    lines = []
    for v in report["variants"]:
        if v.get("fits"):
            lines.append("%-14s %s %s: memoryMB %s (held at %s), cpus %s, pids %s, p99 %s"
                         % (v["name"], report["metric"], _accuracy(v.get("accuracy")), v["memoryMB"],
                            v["minimumMemoryMB"], _cell(v.get("cpus"), "%g"), v.get("pids"), _cell(v.get("p99Ms"), "%.1f ms")))
        else:
            lines.append("%-14s does not fit: %s" % (v["name"], v.get("reason")))
    if report.get("chosen"):
        lines.append("chosen: %s -> %s" % (report["chosen"], report.get("deploymentWritten")))
    left = report.get("leftDeployed")
    if left:
        lines.append("%s now runs fit's trial %d (%s revision %d)%s" % (
            report["thing"], left["trial"], left["deploymentId"], left["revision"],
            "; to run the limits found: edgectl deploy %s --thing %s" % (report["deploymentWritten"], report["thing"])
            if report.get("deploymentWritten") else ""))
    return "\n".join(lines)
