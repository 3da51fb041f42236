"""Names that become one path component (a sweep, a variant, a seed directory): never an escape."""

from __future__ import annotations

from orchestra.errors import SpaceError


def check_path_component(name: str, what: str) -> str:
    """Refuse names that would escape a directory: empty, ``.``, ``..``, ``/``, ``\\`` or NUL."""
    if not isinstance(name, str) or not name:
        raise SpaceError(f"{what} {name!r}: must be a non-empty string")
    if name in (".", "..") or "/" in name or "\0" in name or "\\" in name:
        raise SpaceError(f"{what} {name!r}: must not be '.' or '..' or contain '/', '\\' or NUL")
    if len(name) > 200:
        raise SpaceError(f"{what} {name[:40]!r}...: longer than 200 characters")
    return name
