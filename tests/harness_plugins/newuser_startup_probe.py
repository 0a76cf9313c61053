"""A module a test method imports at start-up (``startup_imports``): its import is timed apart."""

IMPORTED = True
