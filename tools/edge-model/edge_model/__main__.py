"""`python3 -m edge_model` runs the command line, as the installed `edge-model` does."""

import sys

from edge_model.cli import main

sys.exit(main())
