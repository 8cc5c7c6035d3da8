"""`edge-model optimize`: placeholder until the optimize command lands (issue 16)."""


def add_parser(commands):
    command = commands.add_parser("optimize", help="makes optimized variants of an ONNX model and measures each")
    command.set_defaults(run=run)


def run(arguments):
    raise SystemExit("edge-model optimize: not built yet")
