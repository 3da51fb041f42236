"""lagom's names on orchestra: ``from orchestra.compat.lagom import Logger``."""

from orchestra.runtime.logger import Logger as Logger
