"""The command line: `edge-model optimize MODEL …` and `edge-model fit …`."""

import argparse
import sys

from edge_model import fit, optimize


def parser():
    top = argparse.ArgumentParser(
        prog="edge-model",
        description="Makes an ONNX model fit an edge-agent device: optimized variants measured offline "
                    "(optimize), then the limits to set measured on the device through the agent (fit). "
                    "See docs/models.md.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    optimize.add_parser(commands)
    fit.add_parser(commands)
    return top


def main(argv=None):
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments)
    except KeyboardInterrupt:
        print("edge-model: interrupted", file=sys.stderr)
        return 130
