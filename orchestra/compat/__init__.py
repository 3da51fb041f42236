"""The absorbed libraries' own names, as thin adapters over orchestra (lagom, spinup, garage, PyExpUtils)."""
