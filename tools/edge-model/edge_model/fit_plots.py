"""The plots of `edge-model fit` (PNG, matplotlib's Agg backend: no display needed)."""

ACCURACY_VS_LATENCY = "accuracy-latency-memory.png"
MEMORY = "memory.png"


def missing():
    """Why the plots cannot be drawn here (matplotlib not installed), or None: fit says so before
    its trials, not after them."""
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed (scripts/setup.sh installs it; or: python3 -m pip install matplotlib)"
    return None


def draw(variants, out, metric, latency_target_ms=None):
    """Writes the plots into `out`; returns their file names."""
    # Imported here: the rest of edge-model (and `edge-model optimize`) does not need matplotlib.
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    fitting = [v for v in variants if v.get("fits") and v.get("p99Ms") is not None and v.get("accuracy") is not None]
    if fitting:
        figure, axes = plt.subplots(figsize=(7, 4.5))
        memory = [v["memoryMB"] for v in fitting]
        # Point area grows with the memory the variant needs; the colour says it too.
        scale = 600.0 / max(memory)
        points = axes.scatter([v["p99Ms"] for v in fitting], [100 * v["accuracy"] for v in fitting],
                              s=[60 + m * scale for m in memory], c=memory, cmap="viridis", alpha=0.8,
                              edgecolors="black")
        for index, v in enumerate(sorted(fitting, key=lambda v: v["p99Ms"])):
            # Labels alternate above and below, so variants that land close stay readable.
            axes.annotate("%s, %d MB" % (v["name"], v["memoryMB"]), (v["p99Ms"], 100 * v["accuracy"]),
                          textcoords="offset points", xytext=(10, 14 if index % 2 == 0 else -20), fontsize=8,
                          arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5})
        figure.colorbar(points, ax=axes, label="memoryMB (with margin)")
        if latency_target_ms:
            axes.axvline(latency_target_ms, color="firebrick", linestyle="--", linewidth=1)
            axes.annotate("p99 target", (latency_target_ms, 0), xycoords=("data", "axes fraction"),
                          xytext=(3, 4), textcoords="offset points", color="firebrick", fontsize=8)
        # Room for the labels on the right, and the accuracy axis around the points, never past 100.
        axes.margins(x=0.3, y=0.3)
        low, high = axes.get_ylim()
        axes.set_ylim(max(0, min(low, 100 * min(v["accuracy"] for v in fitting) - 2)), min(101, max(high, 0)))
        axes.set_xlabel("p99 round trip through MQTT (ms), under the limits found")
        axes.set_ylabel("%s (%%)" % metric)
        axes.set_title("Accuracy, latency and memory per variant")
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        figure.savefig(out / ACCURACY_VS_LATENCY, dpi=110)
        plt.close(figure)
        written.append(ACCURACY_VS_LATENCY)

    measured = [v for v in variants if v.get("minimumMemoryMB") or v.get("peakMemoryMB")]
    if measured:
        figure, axes = plt.subplots(figsize=(7, 4))
        names = [v["name"] for v in measured]
        positions = range(len(measured))
        width = 0.27
        axes.bar([p - width for p in positions], [v.get("peakMemoryMB") or 0 for v in measured], width,
                 label="peak under the ceiling", color="#9ecae1")
        axes.bar(list(positions), [v.get("minimumMemoryMB") or 0 for v in measured], width,
                 label="smallest memoryMB that held", color="#3182bd")
        deploy = axes.bar([p + width for p in positions], [v.get("memoryMB") or 0 for v in measured], width,
                          label="memoryMB to deploy (+margin)", color="#08519c")
        axes.bar_label(deploy, fmt="%d", fontsize=8, padding=2)
        axes.set_xticks(list(positions))
        axes.set_xticklabels(names)
        axes.set_ylabel("MB")
        axes.set_title("Memory needed per variant")
        axes.set_ylim(0, 1.4 * max(max(v.get("peakMemoryMB") or 0, v.get("memoryMB") or 0) for v in measured))
        axes.legend(fontsize=8, loc="upper center", ncol=3)
        axes.grid(True, axis="y", alpha=0.3)
        figure.tight_layout()
        figure.savefig(out / MEMORY, dpi=110)
        plt.close(figure)
        written.append(MEMORY)
    return written
