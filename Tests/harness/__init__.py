"""The Python harness of the end-to-end tests and the benchmarks: a real Mosquitto, the real
edge-agent binary, an MQTT observer that records everything, and what they need around them.

Import it as a package: `import harness as h` or `from harness import Broker, Agent, Observer`.
It lives in Tests/harness/, so `Tests` must be on the import path: pytest.ini at the repository's
root says `pythonpath = Tests`, and scripts/bench.sh sets PYTHONPATH for the benchmarks.

One concern a module:

    waits          HarnessError, poll_until, the default deadlines (WAIT, QUIET), tail
    ports          free_port
    layout         where the repository's parts are (REPO, RUNTIME_DIR)
    processes      launch (a process with its log), kill_quietly
    procfs         /proc readers: children_of, proc_stat, process_table, cpu_seconds, memory_of, ...
    cgroups        the mounted hierarchies, the cgroup of a pid, removing an agent's subtree
    prerequisites  require_root / require_function_user / require_cgroups, function_python
    shared_files   the world-traversable folders functions (as edgefn) reach, write_module
    broker         Broker: mosquitto on a free loopback port
    agent          Agent: one run of the edge-agent binary; agent_binary
    observer       Observer: the MQTT client that records and waits; Message
    topics         Topics of a thing, unique names
    deployments    deployment documents with real digests, native_function, python_function
    edge           Edge: what a test drives (observer, topics, deploy, health, events)
    shadow_client  ShadowClient: an independent AWS IoT Device Shadow client
    shadow_service ShadowService: the cloud side of the shadow API, for `shadows: cloud`
    tls            make_tls_material
    shipped_broker ShippedBroker: mosquitto with deploy/'s configuration; make_certificates (certs/ scripts)
    vm             VMRun: the cgroup v2 test VM (scripts/vm/) running pytest; import harness.vm
    inotify        WriteWatch: which files of a folder (a cgroup) were written; import harness.inotify

Nothing here sleeps to let something happen: every wait is for the event itself, with a deadline,
and fails naming what it waited for.
"""

from .agent import Agent, agent_binary
from .broker import Broker
from .cgroups import (CGROUP_PARENT, KNOWN_V1_CONTROLLERS, CgroupMount, cgroup_cpu_seconds, cgroup_dirs,
                      cgroup_mounts, cgroup_of, cgroup_root, cgroup_tree_procs, remove_cgroup_tree, remove_cgroups)
from .deployments import (FINAL, artifact, b64, document, example_deployment, native_function, python_function,
                          sha256_bytes, sha256_of, stale_digests)
from .edge import Edge
from .layout import DEFAULT_AGENT_BIN, REPO, RUNTIME_DIR
from .observer import Message, Observer, holds
from .shipped_broker import ShippedBroker, make_certificates, tls_files
from .ports import free_port
from .prerequisites import (DEFAULT_FUNCTION_PYTHON, FUNCTION_USER, function_python, require, require_cgroups,
                            require_function_user, require_root, user_exists)
from .processes import kill_group_quietly, kill_quietly, launch
from .procfs import (CLOCK_TICKS, PAGE_KB, children_of, cmdline_of, cpu_seconds, cpu_ticks, cpu_times, kv_kb,
                     memory_of, open_fd_count, proc_stat, process_alive, process_table, rss_kb, session_members,
                     uids_of)
from .shadow_client import ShadowClient
from .shadow_service import ShadowService
from .shared_files import (begin_shared_test, copy_executable, end_shared_test, make_shared_base,
                           remove_shared_base, shared_location, shared_path, world_writable_dir, write_module)
from .tls import make_tls_material
from .topics import Topics, unique
from .waits import QUIET, WAIT, HarnessError, poll_until, tail

__all__ = [
    "CGROUP_PARENT", "CLOCK_TICKS", "DEFAULT_AGENT_BIN", "DEFAULT_FUNCTION_PYTHON", "FINAL", "FUNCTION_USER",
    "KNOWN_V1_CONTROLLERS", "PAGE_KB", "QUIET", "REPO", "RUNTIME_DIR", "WAIT", "Agent", "agent_binary",
    "artifact", "b64", "begin_shared_test", "Broker", "cgroup_cpu_seconds", "cgroup_dirs", "cgroup_mounts",
    "cgroup_of", "cgroup_root", "cgroup_tree_procs", "CgroupMount", "children_of", "cmdline_of",
    "copy_executable", "cpu_seconds", "cpu_ticks", "cpu_times", "document", "Edge", "end_shared_test",
    "example_deployment", "ShadowService", "free_port", "function_python", "HarnessError", "holds", "kill_group_quietly",
    "kill_quietly", "kv_kb", "launch", "make_shared_base", "make_tls_material", "memory_of", "Message",
    "native_function", "Observer", "open_fd_count", "poll_until", "proc_stat", "process_alive",
    "process_table", "python_function", "remove_cgroup_tree", "remove_cgroups", "remove_shared_base",
    "require", "require_cgroups", "require_function_user", "require_root", "rss_kb", "session_members",
    "sha256_bytes", "sha256_of", "ShadowClient", "shared_location", "shared_path", "stale_digests", "tail",
    "Topics", "uids_of", "unique", "user_exists", "world_writable_dir", "write_module",
]
