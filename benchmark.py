#!/usr/bin/env python
"""digit-bench entry point: `python benchmark.py --help`."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
