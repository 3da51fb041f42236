"""The absorbed libraries' own names (lagom, spinningup, garage, PyExpUtils), so their sweeps move over
by changing imports. Each module follows its library's semantics as written in
shared/SEEDS-SEMANTICS.md, with the plain bugs listed there fixed."""
