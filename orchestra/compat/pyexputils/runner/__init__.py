"""PyExpUtils' ``PyExpUtils.runner``: ``parallel.build`` (GNU parallel command lines)."""
