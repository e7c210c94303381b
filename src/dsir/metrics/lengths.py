"""Summary statistics of document lengths."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LengthSummary:
    """Document length statistics (in tokens): count, total, mean and quantiles."""

    documents: int
    total: int
    mean: float
    min: int
    p10: float
    median: float
    p90: float
    max: int

    def as_dict(self) -> dict:
        return asdict(self)


def length_summary(lengths: np.ndarray) -> LengthSummary:
    """Count, total, mean, min, 10th/50th/90th percentile (linear interpolation) and max."""
    x = np.asarray(lengths, dtype=np.int64)
    if len(x) == 0:
        nan = float("nan")
        return LengthSummary(0, 0, nan, 0, nan, nan, nan, 0)
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    return LengthSummary(len(x), int(x.sum(dtype=np.int64)), float(x.mean()), int(x.min()), float(p10), float(p50), float(p90),
                         int(x.max()))
