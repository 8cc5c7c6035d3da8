"""The benchmark drivers (caps_bench, shadow_bench, suite_bench with the parts in suite/) and what
they share (settings, figures, launch, thing, driver). Run them through scripts/bench.sh, which
runs `python3 -m benchmarks.NAME` with the repository and Tests/ (the harness package) on
PYTHONPATH."""
