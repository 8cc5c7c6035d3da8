"""cgroup v2 on a real kernel: boots Debian's kernel under qemu on a pure cgroup v2 hierarchy
(cgroup_no_v1=all, cgroup2 on /sys/fs/cgroup as systemd mounts it) with the host's root as its own
(scripts/vm/), and runs there, with the real edge-agent and a real Mosquitto on the guest's
loopback:

- the resource-cap scenarios of test_e2e_caps.py, unchanged, so that v2 is held to the same
  user-visible facts as v1: memory.max enforced and the OOM kills counted from memory.events,
  cpu.max throttling in health and events, pids.max holding a fork bomb, and cgroups left by a
  killed agent (with a daemonised grandchild in one) cleaned at start;
- vm_guest_cgroup_v2.py: the v2 files written, cgroup.kill used on stop (a daemonised grandchild
  killed with its function), and the agent moving itself into the leaf `agent/` in a delegated
  systemd unit cgroup (Delegate=yes) and at a container's cgroup namespace root.

One VM boot serves every scenario; each is reported as a test of its own here. The VM needs root,
qemu and the kernel (scripts/setup.sh installs them): without them the tests skip, and fail under
CI=true. KVM is used when /dev/kvm can boot a stock kernel, otherwise qemu's own emulation (TCG),
which is slower: the VM is bounded by VM_TIMEOUT (seconds, default 900).
"""

import os
import time

import pytest

import harness as h
from harness.vm import VMRun, accelerator, vm_prerequisites

CAPS = "Tests/Integration/test_e2e_caps.py::"
GUEST = "Tests/Integration/vm_guest_cgroup_v2.py::"
SCENARIOS = [
    CAPS + "test_memhog_is_oom_killed_restarted_with_backoff_then_broken",
    CAPS + "test_forkbomb_is_held_at_the_pids_cap_and_cleaned_up",
    CAPS + "test_spinner_gets_its_cpu_share_and_is_reported_throttled",
    CAPS + "test_cgroups_left_by_a_killed_agent_are_cleaned_at_start",
    GUEST + "test_limits_are_written_into_the_v2_files_of_the_function_cgroup",
    GUEST + "test_stopping_a_function_kills_its_cgroup_through_cgroup_kill",
    GUEST + "test_agent_in_a_delegated_unit_cgroup_moves_into_a_leaf",
    GUEST + "test_agent_at_a_cgroup_namespace_root_moves_into_a_leaf",
]


@pytest.fixture(scope="module")
def vm_run():
    problem = vm_prerequisites()
    h.require(problem is None, "cannot boot the cgroup v2 test VM: %s" % problem)
    try:
        agent = h.agent_binary()
    except h.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    env = ["EDGE_AGENT_BIN=%s" % agent, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"]
    env += ["%s=%s" % (name, os.environ[name]) for name in ("CI", "EDGE_FUNCTION_PYTHON") if os.environ.get(name)]
    started = time.monotonic()
    # The guest's report, pytest output and console stay in .build/vm/results for a look afterwards.
    run = VMRun(h.REPO / ".build" / "vm" / "results", SCENARIOS, env=env,
                timeout=int(os.environ.get("VM_TIMEOUT", "900"))).run()
    run.wall_seconds = time.monotonic() - started
    print("cgroup v2 VM (%s): exit code %s after %.0f s; results in %s"
          % (accelerator(), run.exit_code, run.wall_seconds, run.results))
    return run


@pytest.mark.parametrize("node", SCENARIOS, ids=[n.split("::")[1] for n in SCENARIOS])
def test_in_the_cgroup_v2_vm(vm_run, node):
    outcome = vm_run.outcomes.get(node)
    assert outcome is not None, "the VM (exit code %s) reported nothing for %s:\n%s\n%s" % (
        vm_run.exit_code, node, vm_run.runner_output[-2000:], vm_run.logs())
    state, detail, _ = outcome
    assert state == "passed", "%s %s in the cgroup v2 VM:\n%s\n%s" % (node, state, h.tail(detail, 80),
                                                                    vm_run.logs(30))
