"""The searches of `edge-model fit`, with no I/O: which limits to try next, what a result means,
and which variant to choose. The shell (fit_trial.py) runs each trial on the device and records
its outcome here, so every decision is a unit test (tools/edge-model/tests/test_fit_search.py).
"""

import math

# CPU quotas tried for a latency target, smallest first (cores; the agent takes 0.01 to the
# device's online CPUs, and refuses more).
CPU_LADDER = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
# The agent's smallest memoryMB (docs/deployments.md, `limits`).
AGENT_MIN_MEMORY_MB = 16
# Variants whose accuracy is within this many points of the best compete on memory.
ACCURACY_POINTS = 1.0


class Bisection:
    """The smallest of ascending `candidates` whose trial passes, for a pass that is monotonic in
    the candidate (more memory or more CPU never makes a function fail). `first` is tried before
    bisecting (memory: the peak seen, rounded up, which usually passes and narrows the range).

    next() says what to try, record() takes the outcome, result() is the answer once done() (None
    when no candidate passed). cap() drops a candidate the device refused and all above it."""

    def __init__(self, candidates, first=None):
        self.candidates = sorted(set(candidates))
        if not self.candidates:
            raise ValueError("a search needs at least one candidate")
        self.low = -1                       # index of the largest candidate known to fail
        self.high = len(self.candidates)    # index of the smallest candidate known to pass
        self.first = first if first in self.candidates else None

    def next(self):
        """The candidate to try next, or None when the search is done."""
        if self.done():
            return None
        if self.first is not None:
            index = self.candidates.index(self.first)
            self.first = None
            if self.low < index < self.high:
                return self.candidates[index]
        return self.candidates[(self.low + self.high) // 2]

    def record(self, candidate, passed):
        index = self.candidates.index(candidate)
        if passed:
            self.high = min(self.high, index)
            # A pass below a recorded failure breaks monotonicity (a flaky boundary): trust the
            # pass, forget the failures above it.
            self.low = min(self.low, index - 1)
        else:
            self.low = max(self.low, index)
            if self.low >= self.high:
                # A failure above a recorded pass (a flaky boundary): trust the failure, and
                # search above it again.
                self.high = len(self.candidates)

    def cap(self, candidate):
        """The device refused `candidate` (over its CPUs or RAM): it and all above it are out."""
        index = self.candidates.index(candidate)
        del self.candidates[index:]
        self.high = min(self.high, len(self.candidates))
        self.low = min(self.low, len(self.candidates) - 1)

    def done(self):
        return self.high - self.low <= 1

    def result(self):
        return self.candidates[self.high] if self.done() and self.high < len(self.candidates) else None


def memory_candidates(floor, ceiling, step):
    """memoryMB sizes from `floor` up in `step`s, and `ceiling` itself (known to pass first)."""
    if step < 1:
        raise ValueError("the memory step must be at least 1 MB, got %r" % step)
    floor = max(AGENT_MIN_MEMORY_MB, floor)
    if ceiling < floor:
        raise ValueError("the memory ceiling %d MB is below the floor %d MB" % (ceiling, floor))
    sizes = list(range(floor, ceiling, step))
    sizes.append(ceiling)
    return sizes


def round_up(value, step):
    """`value` rounded up to a multiple of `step`."""
    return int(math.ceil(value / step) * step)


def memory_probe(peak_bytes, candidates):
    """The first memoryMB to try: the smallest candidate at or above the peak seen under the
    ceiling (which usually passes), or None without a peak."""
    if not peak_bytes:
        return None
    peak_mb = peak_bytes / (1 << 20)
    return next((size for size in candidates if size >= peak_mb), None)


def with_margin(memory_mb, margin_percent, step):
    """The memoryMB to deploy: the smallest that held, plus the margin, rounded up to the step."""
    return round_up(memory_mb * (1 + margin_percent / 100.0), step)


def pids_limit(peak_pids, margin_percent=50, minimum_extra=4):
    """The pids to deploy: the peak seen plus a margin (health samples pids, so a short-lived
    thread between two samples is missed: the margin covers it, the verification run checks it)."""
    peak = max(1, int(peak_pids or 1))
    return peak + max(minimum_extra, int(math.ceil(peak * margin_percent / 100.0)))


def percentile(values, fraction):
    """Nearest-rank percentile of a list; None when it is empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(fraction * len(ordered))) - 1)]


def trial_verdict(deployed, answered, count, errors, oom_kills, pids_limit_hits, p99_ms=None,
                  latency_target_ms=None, status=None):
    """Whether a trial passed, and if not, why (the first reason that applies). `deployed` is
    whether the deployment SUCCEEDED, `status` what it came to."""
    if not deployed:
        cause = "OOM kill at start" if oom_kills else "pids limit hit at start" if pids_limit_hits else "deployment"
        return False, "%s: %s" % (cause, status or "failed")
    if oom_kills:
        return False, "OOM kill"
    if pids_limit_hits:
        return False, "pids limit hit"
    if errors:
        return False, "%d error answer%s" % (errors, "" if errors == 1 else "s")
    if answered < count:
        return False, "%d of %d requests unanswered" % (count - answered, count)
    if latency_target_ms is not None and (p99_ms is None or p99_ms > latency_target_ms):
        return False, "p99 %.1f ms over the %.1f ms target" % (p99_ms or float("nan"), latency_target_ms)
    return True, "ok"


def choose(variants, named=None, points=ACCURACY_POINTS):
    """The variant to deploy from [{"name", "accuracy" (0..1), "memoryMB", optional "cpus",
    "sizeBytes", "p99Ms"}] (those that fit): `named` if given, else the smallest memory among
    those within `points` of the best accuracy; on a tie the fewer cpus, the better accuracy, the
    smaller files, the lower p99, then the name, so the choice is stable. None when none fits."""
    if named is not None:
        for variant in variants:
            if variant["name"] == named:
                return variant
        raise ValueError("--choose %s: no variant of that name fits (fitting: %s)"
                         % (named, ", ".join(v["name"] for v in variants) or "none"))
    if not variants:
        return None
    best = max(v["accuracy"] for v in variants)
    close = [v for v in variants if (best - v["accuracy"]) * 100 <= points + 1e-9]
    unknown = float("inf")
    return min(close, key=lambda v: (v["memoryMB"], v.get("cpus") or unknown, -v["accuracy"],
                                     v.get("sizeBytes") or unknown,
                                     v.get("p99Ms") if v.get("p99Ms") is not None else unknown, v["name"]))
