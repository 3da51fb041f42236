"""Planning: a sweep file becomes a sweep directory (load the file, expand the plan, reconcile it
with what is on disk, write ``sweep.json`` and the payload). No scheduler is needed for any of it."""
