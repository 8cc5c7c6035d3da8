"""The test VM (scripts/vm/): Debian's kernel under qemu on a pure cgroup v2 hierarchy, with the
host's root as its own (read-only, under a tmpfs overlay), running pytest on test files of this
repository and handing back their JUnit report."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .layout import REPO
from .waits import HarnessError, tail

RUN = REPO / "scripts" / "vm" / "run.sh"
# What the guest's pytest writes, in the results share (/vm-results in the guest).
GUEST_RESULTS = "/vm-results"


def vm_prerequisites():
    """Why the VM cannot run here, or None: root, qemu-system-x86_64, a Debian kernel with its
    modules, busybox-static (scripts/setup.sh installs them all)."""
    if os.geteuid() != 0:
        return "needs root (it builds the initramfs and the guest manages cgroups as root)"
    if not shutil.which("qemu-system-x86_64"):
        return "needs qemu-system-x86_64: run scripts/setup.sh (package qemu-system-x86)"
    kernel = subprocess.run([str(REPO / "scripts" / "vm" / "kernel.sh")], capture_output=True, text=True)
    if kernel.returncode != 0:
        return kernel.stderr.strip() or "no kernel for the VM: run scripts/setup.sh (package linux-image-amd64)"
    if not Path("/bin/busybox").is_file():
        return "needs /bin/busybox: run scripts/setup.sh (package busybox-static)"
    return None


def accelerator():
    """The qemu accelerator options the VM will use ("-accel kvm ..." or "-accel tcg ...")."""
    return subprocess.run([str(REPO / "scripts" / "vm" / "accel.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()


class VMRun:
    """One boot of the VM running `pytest NODES` in the repository, with `env` (KEY=VALUE) added
    to the guest's environment; `results` the host folder shared with the guest."""

    def __init__(self, results, nodes, env=(), timeout=600):
        self.results = Path(results)
        self.nodes = list(nodes)
        self.env = list(env)
        self.timeout = timeout
        self.exit_code = None
        self.outcomes = {}

    def run(self):
        # A report an earlier run left must never pass for this one's.
        shutil.rmtree(self.results, ignore_errors=True)
        self.results.mkdir(parents=True)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
                "--junitxml=%s/junit.xml" % GUEST_RESULTS] + self.nodes
        command = [str(RUN), str(self.results)]
        for pair in self.env:
            command += ["--env", pair]
        command += ["--"] + argv
        environment = dict(os.environ, VM_TIMEOUT=str(self.timeout))
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=self.timeout + 60)
        except subprocess.TimeoutExpired:
            raise HarnessError("scripts/vm/run.sh did not return within %d s\n%s" % (self.timeout + 60, self.logs()))
        self.exit_code = done.returncode
        self.runner_output = done.stdout + done.stderr
        self.outcomes = self._read_junit()
        return self

    def _read_junit(self):
        report = self.results / "junit.xml"
        if not report.is_file():
            return {}
        outcomes = {}
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            # classname "Tests.Integration.test_e2e_caps", name "test_x": the node "file.py::test_x".
            node = "%s.py::%s" % (case.get("classname", "").replace(".", "/"), case.get("name"))
            outcome, detail = "passed", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = "failed" if child.tag == "failure" else child.tag
                    detail = (child.get("message") or "") + "\n" + (child.text or "")
                    break
            outcomes[node] = (outcome, detail, float(case.get("time", 0)))
        return outcomes

    def logs(self, lines=60):
        """The tails of the guest's pytest output and console, for a failure message."""
        parts = []
        for name in ("guest.log", "console.log"):
            path = self.results / name
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append("--- %s (%s):\n%s" % (name, path, tail(text, lines)))
        return "\n".join(parts)
