"""Where the harness finds the repository's parts."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO / "runtime"
DEFAULT_AGENT_BIN = REPO / ".build" / "debug" / "edge-agent"
