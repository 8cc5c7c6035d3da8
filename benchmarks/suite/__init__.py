"""The benchmark suite's parts (footprint, invocation, deployment, fleet), run by
benchmarks/suite_bench.py through `bash scripts/bench.sh`."""
