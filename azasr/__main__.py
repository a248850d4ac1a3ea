"""`python -m azasr ...` runs the command line (see azasr.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
