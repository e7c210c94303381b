"""Per-file tasks that engines execute."""
