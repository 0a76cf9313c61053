"""Methods other than AlexNet; each registers itself (entry points in pyproject.toml)."""
