"""`edge-model fit`: placeholder until the fit command lands (issue 16)."""


def add_parser(commands):
    command = commands.add_parser("fit", help="measures variants on the device through the agent and "
                                              "writes the deployment with the limits that held")
    command.set_defaults(run=run)


def run(arguments):
    raise SystemExit("edge-model fit: not built yet")
