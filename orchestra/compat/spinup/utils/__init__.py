"""spinningup's ``spinup.utils``."""
