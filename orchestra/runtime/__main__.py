"""``python -m orchestra.runtime <run-dir>``: see :mod:`orchestra.runtime.entrypoint`."""

import sys

from orchestra.runtime.entrypoint import main

if __name__ == "__main__":
    sys.exit(main())
