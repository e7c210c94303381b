"""Execution engines: where the per-unit tasks of a run are executed."""

from dsir.engines.local import LocalEngine

__all__ = ["LocalEngine"]
