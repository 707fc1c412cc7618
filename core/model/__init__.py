"""Models as data: an allowlist layer registry and shape checks on the meta device."""
