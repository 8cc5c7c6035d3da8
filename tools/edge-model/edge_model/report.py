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
    return "%-13s %9s  accuracy %6.2f%%  p50 %8.2f ms  p99 %8.2f ms  peak %7s MB  %s" % (
        row["name"], _mb(row["sizeBytes"]), row["accuracy"] * 100, row["p50Ms"], row["p99Ms"],
        _number(row["peakMemoryMB"]), "accepted" if row["accepted"] else "REFUSED")


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
        lines.append("| %s | %s | %s | %.2f %% | %.2f | %.2f ms | %.2f ms | %s | %s | %s |" % (
            row["name"], _mb(row["sizeBytes"]), smaller, row["accuracy"] * 100, row["lossPoints"],
            row["p50Ms"], row["p99Ms"], faster, _number(row["peakMemoryMB"], " MB"),
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
    """Per model: accuracy against latency (left), and size and peak memory per variant (right)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a device or in CI
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(len(models), 2, figsize=(12, 4.6 * len(models)), squeeze=False)
    for (left, right), model in zip(axes, models):
        measured = [row for row in model["variants"] if row["accuracy"] is not None]
        for index, row in enumerate(measured):
            colour = "tab:green" if row["accepted"] else "tab:red"
            left.scatter(row["p50Ms"], row["accuracy"] * 100, s=90, color=colour, alpha=0.7, edgecolors="black",
                         marker="o" if row["accepted"] else "X", zorder=3)
            left.errorbar(row["p50Ms"], row["accuracy"] * 100, xerr=[[0], [row["p99Ms"] - row["p50Ms"]]],
                          color=colour, alpha=0.5, capsize=3, zorder=2)
            # Labels stagger, so variants that land on one spot stay readable.
            left.annotate(row["name"], (row["p50Ms"], row["accuracy"] * 100), textcoords="offset points",
                          xytext=(8, 6 - 11 * (index % 3)), fontsize=8)
        left.set_title("%s: accuracy (%s) against latency" % (model["model"], model["metric"]), fontsize=10)
        left.set_xlabel("latency per input, p50 (dot) to p99 (bar), ms")
        left.set_ylabel("accuracy (%)")
        left.grid(alpha=0.3)
        left.margins(0.2)
        names = [row["name"] for row in measured]
        positions = range(len(measured))
        right.bar([p - 0.2 for p in positions], [row["sizeBytes"] / 1e6 for row in measured], width=0.4,
                  label="file size (MB)", color="tab:blue")
        right.bar([p + 0.2 for p in positions], [row["peakMemoryMB"] or 0 for row in measured], width=0.4,
                  label="peak memory added (MB)", color="tab:orange")
        right.set_xticks(list(positions))
        right.set_xticklabels([name + ("" if row["accepted"] else "\n(refused)") for name, row in zip(names, measured)],
                              fontsize=8)
        right.set_title("%s: size and memory per variant" % model["model"], fontsize=10)
        right.set_ylabel("MB")
        right.legend(fontsize=8)
        right.grid(axis="y", alpha=0.3)
    figure.text(0.01, 0.005, "green dot: accepted; red X: over the accuracy budget", fontsize=8)
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
