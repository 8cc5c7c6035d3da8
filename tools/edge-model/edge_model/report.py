"""The optimize report: a Markdown table and a PNG plot a person would rather look at than read."""

import os


def _mb(size):
    if size is None:
        return "—"
    return "%.2f MB" % (size / 1e6) if size >= 100e3 else "%.1f KB" % (size / 1e3)


def _number(value, suffix=""):
    return ("%g%s" % (value, suffix)) if value is not None else "—"


def line(row):
    """One variant in a line, for the console."""
    if row["accuracy"] is None:
        return "%-13s %s" % (row["name"], row["reason"])
    return "%-13s %9s  accuracy %6.2f%%  p50 %8.2f ms  p99 %8.2f ms  peak %7.1f MB  %s" % (
        row["name"], _mb(row["sizeBytes"]), row["accuracy"] * 100, row["p50Ms"], row["p99Ms"],
        row["peakMemoryMB"], "accepted" if row["accepted"] else "REFUSED")


def _table(model):
    rows = model["variants"]
    fp32 = next((row for row in rows if row["name"] == "fp32" and row["accuracy"] is not None), None)
    lines = ["### %s" % model["model"], "",
             "Metric: %s; budget: %g points; onnxruntime threads: %d." % (
                 model["metric"], model["budgetPoints"], model.get("threads", 1)), "",
             "| variant | size | × smaller | accuracy | lost (points) | p50 | p99 | × faster (p50) | peak memory | verdict |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        if row["accuracy"] is None:
            lines.append("| %s | — | — | — | — | — | — | — | — | %s |" % (row["name"], row["reason"]))
            continue
        smaller = "%.2f" % (fp32["sizeBytes"] / row["sizeBytes"]) if fp32 else "—"
        faster = "%.2f" % (fp32["p50Ms"] / row["p50Ms"]) if fp32 and row["p50Ms"] else "—"
        lines.append("| %s | %s | %s | %.2f %% | %.2f | %.2f ms | %.2f ms | %s | %.1f MB | %s |" % (
            row["name"], _mb(row["sizeBytes"]), smaller, row["accuracy"] * 100, row["lossPoints"],
            row["p50Ms"], row["p99Ms"], faster, row["peakMemoryMB"],
            "accepted" if row["accepted"] else "**refused**: " + row["reason"]))
    return lines


def write_optimize(folder, models):
    lines = ["# edge-model optimize", "",
             "Each variant measured in a process of its own on the same held-out data: size on disk, "
             "accuracy, latency per input after a warm-up (p50, p99), and the peak resident memory "
             "that loading and running it added. Plot: optimize.png.", ""]
    for model in models:
        lines += _table(model) + [""]
    with open(os.path.join(folder, "optimize.md"), "w") as handle:
        handle.write("\n".join(lines))
    _plot(os.path.join(folder, "optimize.png"), models)


def _plot(path, models):
    import matplotlib

    matplotlib.use("Agg")  # no display on a device or in CI
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(models), figsize=(6.5 * len(models), 4.8), squeeze=False)
    for axis, model in zip(axes[0], models):
        measured = [row for row in model["variants"] if row["accuracy"] is not None]
        for row in measured:
            size_mb = row["sizeBytes"] / 1e6
            colour = "tab:green" if row["accepted"] else "tab:red"
            axis.scatter(row["p50Ms"], row["accuracy"] * 100, s=60 + 40 * size_mb, color=colour,
                         alpha=0.6, edgecolors="black", marker="o" if row["accepted"] else "X")
            axis.annotate("%s\n%.1f MB, peak %.0f MB" % (row["name"], size_mb, row["peakMemoryMB"]),
                          (row["p50Ms"], row["accuracy"] * 100), textcoords="offset points", xytext=(8, 4),
                          fontsize=8)
        axis.set_title("%s (%s)" % (model["model"], model["metric"]), fontsize=10)
        axis.set_xlabel("latency p50 per input (ms)")
        axis.set_ylabel("accuracy (%)")
        axis.grid(alpha=0.3)
        axis.margins(0.25)
    figure.text(0.01, 0.01, "marker area: file size; green: accepted, red X: over the accuracy budget",
                fontsize=8)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
