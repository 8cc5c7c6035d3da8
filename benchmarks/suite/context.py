"""What every part of the suite is given: the binaries, the work folder, settings, a log, and
brokers and agents that are stopped at the end of the run whatever happens."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from harness import process_table

from ..figures import shown_command
from ..launch import bench_agent, bench_broker
from ..settings import QUICK, BenchError, read_setting


class Context:
    def __init__(self, args, settings, log):
        self.agent_bin = args.agent
        self.edgectl_bin = args.edgectl
        self.loadgen_bin = args.loadgen
        self.echo_bin = args.echo
        self.runtime_dir = args.runtime_dir
        self.examples_dir = Path(args.examples_dir)
        self.python = args.python or None
        self.python_note = args.python_note
        self.workdir = Path(args.workdir)
        self.pids_file = self.workdir / "pids"
        self.log = log
        self._settings = settings
        self._brokers = []
        self._agents = []
        self.timeout = float(self.setting("BENCH_TIMEOUT"))

    def setting(self, name):
        """A setting from the environment, or its full or quick default (suite_bench.SETTINGS);
        a setting whose defaults are text (a list of rates, say) is returned as text."""
        full, quick, _ = self._settings[name]
        if isinstance(full, str):
            return os.environ.get(name) or (quick if QUICK else full)
        return read_setting(self._settings, name)

    def loadgen(self, arguments, timeout):
        """Runs `edge-loadgen ARGUMENTS` and returns its figures (its JSON), with the command that
        reproduces them under "command"; a failure raises with its output."""
        command = [self.loadgen_bin] + [str(a) for a in arguments]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError("edge-loadgen failed (%s): %s%s" % (" ".join(command), done.stdout, done.stderr))
        figures = json.loads(done.stdout)
        figures["command"] = shown_command(command)
        return figures

    def cluster(self, name, nodes=3):
        """A NATS cluster of its own (harness.brokers.NatsCluster), JetStream and MQTT on each node."""
        from harness.brokers import NatsCluster
        cluster = NatsCluster(self.workdir / name / "nats", nodes=nodes, pids_file=self.pids_file).start(self.timeout)
        self._brokers.append(cluster)
        return cluster

    def broker(self, name):
        """A Mosquitto of its own on a free loopback port, accepting connections."""
        broker = bench_broker(self.workdir / name / "broker", self.pids_file, self.timeout)
        self._brokers.append(broker)
        return broker

    def agent(self, name, thing, port, groups=(), health_interval=None, extra_args=(), start=True, brokers=None):
        """A release agent with `--cgroups off` (the suite measures the agent, not the caps: see
        the caps benchmark for those), its state and log under the work folder."""
        agent = bench_agent(self.agent_bin, name, thing, port, self.workdir, self.runtime_dir, self.python,
                            health_interval=health_interval, groups=groups, extra_args=extra_args, brokers=brokers)
        self._agents.append(agent)
        if start:
            agent.start()
        return agent

    def stop_agents(self, agents=None, forget=True):
        """SIGTERM to every agent given (default: all) first, then one shared deadline for all of
        them to exit: a fleet stops in about the time of its slowest agent, not in the sum. What is
        still running at the deadline is killed, with its functions. Returns the problems (an agent
        that had to be killed, or exited with a code other than 0); never raises. With `forget`
        false, the agents stay on the list stopped at the end (they are to be started again)."""
        agents = list(self._agents if agents is None else agents)
        problems = []
        running = [agent for agent in agents if agent.alive()]
        # Their functions, from one pass over /proc (not one per agent): they die with their
        # agent (parent-death signal); they are killed below all the same, to make sure.
        pids = {agent.pid for agent in running}
        functions = [pid for pid, fields in process_table().items() if int(fields[1]) in pids]
        for agent in running:
            try:
                agent.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + self.timeout
        for agent in running:
            try:
                code = agent.proc.wait(max(0.0, deadline - time.monotonic()))
                if code:
                    problems.append("the agent %s exited with code %d after SIGTERM" % (agent.name, code))
            except subprocess.TimeoutExpired:
                problems.append("the agent %s did not exit within %.0f s of SIGTERM (killed)"
                                % (agent.name, self.timeout))
        for pid in functions:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for agent in agents:
            agent.cleanup(stop_timeout=0)  # kills what is left, with its functions
            if forget and agent in self._agents:
                self._agents.remove(agent)
        return problems

    def stop_all(self):
        """Agents first (they publish their last health), then brokers; never raises."""
        problems = self.stop_agents()
        for broker in reversed(self._brokers):
            broker.stop()
        self._brokers.clear()
        return problems
