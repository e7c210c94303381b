"""Sampling: Gumbel top-k importance resampling without replacement."""

from dsir.sample.gumbel import Threshold, find_threshold, gumbel_noise, selection_keys, uniform_from_hashes

__all__ = ["Threshold", "find_threshold", "gumbel_noise", "selection_keys", "uniform_from_hashes"]
