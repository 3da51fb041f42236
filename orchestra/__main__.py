import sys

from orchestra.cli import console

sys.exit(console())
