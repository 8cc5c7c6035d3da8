#!/usr/bin/env bash
# Rewrites Sources/edge-agent/edge-agent.order, the order in which the linker lays out the
# agent's functions: those a real run executes first, hottest first, so that the code the agent
# runs shares a few pages instead of touching most of its text (see docs/architecture.md, "Code
# layout"). Run it after changes that move the agent's hot path; a stale file only costs memory
# (functions it does not name are laid out after it, names it has that no longer exist are ignored).
#
#   bash scripts/agent-order.sh        about 3 minutes: the agent runs under valgrind's callgrind
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "agent-order: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
swift build -c release --product edge-agent
work="$(mktemp -d /tmp/agent-order-XXXXXX)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -o "$work/echo" examples/echo-native/echo.c $(pkg-config --cflags --libs json-c)
# valgrind refuses a function's RLIMIT_NOFILE unless both its limits are its own (the soft limit at
# its start, less 12): 1024 here, and so 1012 as each function's limits.openFiles (scripts/agent-order.py).
ulimit -n 1024
# Without its DWARF, which valgrind 3.19 cannot read from this compiler; the symbols stay.
objcopy --strip-debug "$(swift build -c release --show-bin-path)/edge-agent" "$work/edge-agent"
PYTHONPATH=Tests python3 scripts/agent-order.py "$work/edge-agent" "$work/echo" Sources/edge-agent/edge-agent.order
