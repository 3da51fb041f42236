"""``python -m orchestra.runtime <run-dir>``: see :mod:`orchestra.runtime.entrypoint`."""

from orchestra.runtime.entrypoint import exit_with, main

if __name__ == "__main__":
    exit_with(main())
