"""Near-duplicate-aware selection."""
