"""How a benchmark starts its broker and its agents: each in a session of its own with its pid in
the work folder's `pids` file (scripts/bench.sh kills what a killed driver left), the broker tuned
for load, the agent at `--log-level info` with its state and log in the work folder."""

from pathlib import Path

from harness import Agent, Broker


def bench_broker(folder, pids_file, timeout):
    """A Mosquitto on a free loopback port, its files in `folder`, accepting connections."""
    return Broker(folder, settings=Broker.LOAD_SETTINGS, pids_file=pids_file).start(timeout)


def bench_agent(binary, name, thing, port, workdir, runtime_dir, python, cgroups="off", cgroup_root=None,
                health_interval=None, groups=(), extra_args=(), brokers=None):
    """An agent (not started) of the thing `thing`: state in <workdir>/state-NAME, log in
    <workdir>/agent-NAME.log; `--cgroups` `cgroups` and, unless that is "off", `--cgroup-root`
    `cgroup_root`; `health_interval` None: the agent's default (30 s)."""
    workdir = Path(workdir)
    return Agent(binary, thing, port, workdir / ("state-" + name), workdir / ("agent-" + name + ".log"),
                 health_interval=health_interval, log_level="info", cgroups=cgroups,
                 cgroup_root=cgroup_root if cgroups != "off" else None, python=python or None, groups=groups,
                 extra_args=extra_args, runtime_dir=runtime_dir, name=name, pids_file=workdir / "pids", brokers=brokers)
