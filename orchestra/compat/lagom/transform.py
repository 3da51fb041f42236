"""lagom's ``lagom.transform.LinearSchedule``: see :mod:`orchestra.rl.schedule`."""

from orchestra.rl.schedule import LinearSchedule

__all__ = ["LinearSchedule"]
