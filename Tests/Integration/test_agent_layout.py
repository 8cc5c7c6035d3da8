"""The agent binary is linked for a small resident memory (docs/architecture.md, "Code layout"):
libstdc++ linked in statically rather than loaded, and the functions of
Sources/edge-agent/edge-agent.order laid out first in the text, in that order."""

import subprocess

import pytest

import harness as h

ORDER_FILE = h.REPO / "Sources" / "edge-agent" / "edge-agent.order"


def _run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("%s failed: %s" % (" ".join(map(str, args)), result.stderr), pytrace=False)
    return result.stdout


def _needed(binary):
    return [line.split("[", 1)[1].rstrip("]") for line in _run(["readelf", "-dW", binary]).splitlines()
            if "(NEEDED)" in line]


def _function_addresses(binary):
    """{name: address} of the functions in the binary's symbol table (the first of a name)."""
    addresses = {}
    for line in _run(["nm", "--defined-only", binary]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addresses.setdefault(parts[2], int(parts[0], 16))
    return addresses


def _text_start(binary):
    for line in _run(["readelf", "-SW", binary]).splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 3 and parts[1] == ".text":
            return int(parts[3], 16)
    pytest.fail("readelf found no .text section in %s" % binary, pytrace=False)


def _ordered_names():
    return [line.strip() for line in ORDER_FILE.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_agent_links_libstdcxx_statically(agent_bin):
    needed = _needed(agent_bin)
    assert "libc.so.6" in needed, "readelf found no libc.so.6 among %s: is %s the agent?" % (needed, agent_bin)
    assert not [lib for lib in needed if lib.startswith("libstdc++")], (
        "%s loads %s: Package.swift's agentLinking lost its -L to Sources/edge-agent/link, which answers "
        "-lstdc++ with the static library" % (agent_bin, needed))


def test_the_functions_a_run_executes_come_first_and_in_order(agent_bin):
    names = _ordered_names()
    assert len(names) > 1000, "%s names only %d functions: rewrite it with bash scripts/agent-order.sh" % (
        ORDER_FILE, len(names))
    addresses = _function_addresses(agent_bin)
    present = [name for name in names if name in addresses]
    # A debug build has no specialisations, so fewer of the names; the runtime's are all there.
    assert len(present) >= 300, "only %d of the %d names of %s are functions of %s" % (
        len(present), len(names), ORDER_FILE, agent_bin)
    # The linker lays out the sections of the named functions first, in the file's order: the
    # hottest one starts the text, and most named functions sit right after the one named before
    # them. Not all: a named function that shares its section with others (the standard library's
    # local functions are in one 1.6 MB section) takes them along. Without the ordering, about 3 %
    # of them do (measured on the agent before the file existed); with it, 19 % in a release build.
    text_start = _text_start(agent_bin)
    assert addresses[present[0]] - text_start < 4096, (
        "the hottest function %s is at %#x, %d bytes past the start of the text (%#x): the order file is "
        "not applied (lld's --symbol-ordering-file in Package.swift's agentLinking)"
        % (present[0], addresses[present[0]], addresses[present[0]] - text_start, text_start))
    pairs = list(zip(present, present[1:]))
    adjacent = sum(0 < addresses[after] - addresses[before] < 4096 for before, after in pairs) / len(pairs)
    assert adjacent >= 0.1, (
        "only %.0f %% of the functions named in %s follow the one named before them within 4 KiB: "
        "the order file is not applied" % (adjacent * 100, ORDER_FILE))
