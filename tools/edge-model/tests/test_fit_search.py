"""The pure logic of `edge-model fit`: the searches, margins, verdicts and the choice of variant
(edge_model/fit_search.py), and the documents it deploys (edge_model/fit_deployment.py).

  python3 -m pytest -q tools/edge-model/tests
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edge_model import fit_deployment, fit_search  # noqa: E402


def run(search, fits):
    """Drives a search with `fits(candidate)` as the device; returns (result, candidates tried)."""
    tried = []
    while True:
        candidate = search.next()
        if candidate is None:
            return search.result(), tried
        tried.append(candidate)
        search.record(candidate, fits(candidate))


# -- Bisection


@pytest.mark.parametrize("need", [16, 17, 40, 57, 96, 127, 128])
def test_memory_search_finds_the_smallest_size_that_holds(need):
    candidates = fit_search.memory_candidates(16, 128, 4)
    search = fit_search.Bisection(candidates)
    search.record(128, True)  # the baseline held at the ceiling
    result, tried = run(search, lambda size: size >= need)
    assert result == min(c for c in candidates if c >= need)
    assert len(tried) <= 5, tried  # log2(29 candidates)
    assert len(set(tried)) == len(tried), tried


def test_the_first_probe_is_tried_first_and_narrows_the_search():
    candidates = fit_search.memory_candidates(16, 1024, 4)
    probe = fit_search.memory_probe(54.2 * (1 << 20), candidates)
    assert probe == 56
    search = fit_search.Bisection(candidates, first=probe)
    search.record(1024, True)
    result, tried = run(search, lambda size: size >= 52)
    assert tried[0] == 56 and result == 52
    assert max(tried[1:]) < 56, tried  # everything after the probe is below it
    assert len(tried) <= 5, tried


def test_no_candidate_passing_gives_none():
    search = fit_search.Bisection([0.25, 0.5, 1, 2])
    result, tried = run(search, lambda cpus: False)
    assert result is None and 2 in tried


def test_a_candidate_the_device_refuses_caps_the_ladder():
    search = fit_search.Bisection([0.25, 0.5, 1, 2, 4, 8])
    tried = []
    while True:
        cpus = search.next()
        if cpus is None:
            break
        tried.append(cpus)
        if cpus > 2:  # a 2-CPU device refuses more
            search.cap(cpus)
        else:
            search.record(cpus, cpus >= 1)
    assert search.result() == 1
    assert all(c in (0.25, 0.5, 1, 2, 4, 8) for c in tried)


def test_everything_refused_gives_none():
    search = fit_search.Bisection([1, 2])
    search.cap(1)
    assert search.done() and search.next() is None and search.result() is None


def test_a_flaky_failure_above_a_pass_is_trusted_and_searched_above():
    search = fit_search.Bisection([16, 20, 24, 28, 32])
    search.record(24, True)
    search.record(28, False)  # flaky: more memory failed
    assert not search.done()
    result, _ = run(search, lambda size: size >= 32)
    assert result == 32


def test_a_pass_below_a_recorded_failure_is_trusted():
    search = fit_search.Bisection([16, 20, 24, 28, 32])
    search.record(28, False)
    search.record(20, True)
    result, _ = run(search, lambda size: size >= 20)
    assert result == 20


def test_memory_candidates_keep_the_agent_minimum_and_the_ceiling():
    assert fit_search.memory_candidates(8, 30, 4) == [16, 20, 24, 28, 30]
    with pytest.raises(ValueError):
        fit_search.memory_candidates(64, 32, 4)
    with pytest.raises(ValueError):
        fit_search.memory_candidates(16, 32, 0)


# -- margins, verdicts, choice


def test_margin_is_added_then_rounded_up_to_the_step():
    assert fit_search.with_margin(56, 20, 4) == 68   # 67.2 -> 68
    assert fit_search.with_margin(60, 20, 4) == 72
    assert fit_search.with_margin(32, 0, 4) == 32


def test_pids_get_a_margin_over_the_peak():
    assert fit_search.pids_limit(1) == 5
    assert fit_search.pids_limit(20) == 30
    assert fit_search.pids_limit(None) == 5


def test_percentile_is_nearest_rank():
    assert fit_search.percentile([], 0.5) is None
    assert fit_search.percentile([3, 1, 2], 0.5) == 2
    assert fit_search.percentile(list(range(1, 101)), 0.99) == 99


@pytest.mark.parametrize("kwargs, passed, why", [
    (dict(deployed=False, oom_kills=1, status="ROLLED_BACK"), False, "OOM kill at start: ROLLED_BACK"),
    (dict(deployed=False, status="REJECTED"), False, "deployment: REJECTED"),
    (dict(oom_kills=2), False, "OOM kill"),
    (dict(pids_limit_hits=1), False, "pids limit hit"),
    (dict(errors=1), False, "1 error answer"),
    (dict(answered=3), False, "1 of 4 requests unanswered"),
    (dict(p99_ms=120.0, latency_target_ms=100.0), False, "p99 120.0 ms over the 100.0 ms target"),
    (dict(p99_ms=80.0, latency_target_ms=100.0), True, "ok"),
    (dict(), True, "ok"),
])
def test_trial_verdict(kwargs, passed, why):
    arguments = dict(deployed=True, answered=4, count=4, errors=0, oom_kills=0, pids_limit_hits=0)
    arguments.update(kwargs)
    assert fit_search.trial_verdict(**arguments) == (passed, why)


def test_choice_is_the_smallest_memory_within_a_point_of_the_best_accuracy():
    variants = [{"name": "fp32", "accuracy": 0.970, "memoryMB": 120},
                {"name": "static-int8", "accuracy": 0.962, "memoryMB": 64},
                {"name": "dynamic-int8", "accuracy": 0.940, "memoryMB": 48}]
    assert fit_search.choose(variants)["name"] == "static-int8"  # dynamic-int8 lost 3 points
    assert fit_search.choose(variants, named="fp32")["name"] == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        fit_search.choose(variants, named="fp16")
    assert fit_search.choose([]) is None


def test_choice_breaks_a_memory_tie_by_cpus_then_accuracy_then_latency():
    variants = [{"name": "a", "accuracy": 0.95, "memoryMB": 64}, {"name": "b", "accuracy": 0.955, "memoryMB": 64}]
    assert fit_search.choose(variants)["name"] == "b"
    variants = [{"name": "dynamic-int8", "accuracy": 1.0, "memoryMB": 68, "cpus": 0.75, "p99Ms": 112.0},
                {"name": "fp32", "accuracy": 1.0, "memoryMB": 68, "cpus": 0.5, "p99Ms": 192.0}]
    assert fit_search.choose(variants)["name"] == "fp32"
    variants[0]["cpus"] = 0.5
    assert fit_search.choose(variants)["name"] == "dynamic-int8"  # the lower p99
    variants[0]["sizeBytes"], variants[1]["sizeBytes"] = 10_898_549, 10_857_958
    assert fit_search.choose(variants)["name"] == "fp32"  # the smaller files, before a p99's noise


# -- the documents


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def example(tmp_path):
    """An example folder like examples/digits, and an optimize output with two variants."""
    folder = tmp_path / "example"
    write(folder / "classifier.py", b"def handler(e, c): return e\n")
    write(folder / "model.onnx", b"fp32")
    document = {"deploymentId": "digits-v1", "revision": 3, "functions": {"digits": {
        "version": "1.0.0", "runtime": "python3", "handler": "classifier.handler",
        "artifacts": [{"uri": "file://__EXAMPLE_DIR__/classifier.py", "sha256": "__BUILT__"},
                      {"uri": "file://__EXAMPLE_DIR__/model.onnx", "sha256": "0" * 64}],
        "limits": {"memoryMB": 256, "cpus": 1, "openFiles": 256},
        "subscriptions": [{"topic": "sensors/+/digits", "qos": 1}]}}}
    (folder / "deployment.json").write_text(json.dumps(document))
    out = tmp_path / "variants"
    write(out / "fp32" / "model.onnx", b"fp32")
    write(out / "static-int8" / "model.onnx", b"int8")
    write(out / "zz-custom" / "model.onnx", b"custom")
    write(out / "refused" / "fp16" / "model.onnx", b"fp16")
    write(out / "optimize.json", b"{}")
    return folder, out


def test_load_renders_the_example_placeholders(example):
    folder, _ = example
    document, placeholder = fit_deployment.load(folder / "deployment.json")
    assert placeholder == str(folder.resolve())
    artifacts = document["functions"]["digits"]["artifacts"]
    assert artifacts[0]["uri"] == "file://%s/classifier.py" % folder.resolve()
    assert artifacts[0]["sha256"] == fit_deployment.sha256_of(folder / "classifier.py")


def test_variants_are_the_folders_but_refused_in_report_order(example):
    _, out = example
    assert [v.name for v in fit_deployment.variants(out)] == ["fp32", "static-int8", "zz-custom"]
    assert [v.name for v in fit_deployment.variants(out, ["static-int8"])] == ["static-int8"]
    with pytest.raises(fit_deployment.DeploymentError, match="fp16"):
        fit_deployment.variants(out, ["fp16"])


def test_a_variant_replaces_the_artifact_of_the_same_basename(example):
    folder, out = example
    document, _ = fit_deployment.load(folder / "deployment.json")
    int8 = fit_deployment.variants(out, ["static-int8"])[0]
    new = fit_deployment.with_variant(document, "digits", int8)
    artifacts = new["functions"]["digits"]["artifacts"]
    assert artifacts[0] == document["functions"]["digits"]["artifacts"][0]  # classifier.py untouched
    assert artifacts[1] == {"uri": "file://%s" % (out / "static-int8" / "model.onnx").resolve(),
                            "sha256": fit_deployment.sha256_of(out / "static-int8" / "model.onnx")}
    assert document["functions"]["digits"]["artifacts"][1]["sha256"] == "0" * 64  # the original is not changed


def test_a_variant_file_that_matches_no_artifact_is_refused(example, tmp_path):
    folder, _ = example
    document, _ = fit_deployment.load(folder / "deployment.json")
    stray = fit_deployment.Variant("x", tmp_path, {"rec.onnx": write(tmp_path / "x" / "rec.onnx", b"r")})
    with pytest.raises(fit_deployment.DeploymentError, match="rec.onnx.*classifier.py, model.onnx"):
        fit_deployment.with_variant(document, "digits", stray)


def test_trial_documents_set_limits_id_revision_and_version(example):
    folder, _ = example
    document, _ = fit_deployment.load(folder / "deployment.json")
    trial = fit_deployment.with_limits(document, "digits", {"memoryMB": 48, "cpus": None, "pids": 8},
                                       "digits-v1.fit.fp32.2", 9, fit_deployment.trial_version("1.0.0", 2))
    spec = trial["functions"]["digits"]
    assert spec["limits"] == {"memoryMB": 48, "pids": 8, "openFiles": 256}  # cpus None: removed
    assert spec["version"] == "1.0.0+fit2" and trial["revision"] == 9
    assert fit_deployment.trial_version("1.0.0+build.7", 3) == "1.0.0+build.7.fit3"
    assert len(fit_deployment.trial_version("v" * 64, 12)) == 64
    assert fit_deployment.trial_id("d", "static int8/x", 3) == "d.fit.static-int8-x.3"


def test_requests_go_to_the_task_topic_or_direct_invocation():
    spec = {"subscriptions": [{"topic": "cameras/+/frames"}]}
    assert fit_deployment.request_topic(spec, "t", "f") == "edge/things/t/functions/f/invoke"
    assert fit_deployment.request_topic(spec, "t", "f", "lab/{thing}/in") == "lab/t/in"
    assert fit_deployment.request_topic({}, "t", "f") == "edge/things/t/functions/f/invoke"
    assert fit_deployment.results_topic({}, "t", "f") == "edge/things/t/functions/f/results"
    assert fit_deployment.results_topic({"output": {"topic": "out/{thing}/{function}"}}, "t", "f") == "out/t/f"


def test_the_written_document_puts_the_placeholder_back(example):
    folder, _ = example
    document, placeholder = fit_deployment.load(folder / "deployment.json")
    text = fit_deployment.as_written(document, placeholder)
    assert "file://__EXAMPLE_DIR__/classifier.py" in text and str(folder.resolve()) not in text
