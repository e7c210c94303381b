"""Selection methods (``dsir``, ``reference``, ``discriminative``, ``random``, ``classifier``) as rules that turn per-unit scores
into sort keys, and the allocation of k over several targets.

Every method ends the same way: each unit (a document, or a chunk) gets a key, and the
k largest keys over the whole pool are selected (``find_threshold``). The noise in a key
is a pure function of (seed, the unit's identity hash), so a selection never depends on
how the pool is split into files or workers.

* ``dsir``: ``key = w / temperature + Gumbel``, where ``w`` is the log importance weight:
  the sum of the log-ratio over the unit's n-grams (``weighting="sum"``, the paper's and
  the reference package's), or its mean per n-gram (``weighting="mean"``), which does not
  grow with length. Keeping the k largest keys draws k units without replacement with
  probabilities proportional to ``exp(w / temperature)``.
  ``reference`` ranks the same way, on the reference package's log-ratio, and
  ``discriminative`` on a classifier's log-odds (``estimate.discriminative``), which is the
  mean over the unit's n-grams of its per-n-gram term (``weighting="mean"``).
* ``random``: ``key = Gumbel``: a uniform sample without replacement.
* ``classifier``: GPT-3's heuristic classification: with ``p`` the classifier's
  probability that the unit is target-like, a unit is kept when ``p > 1 - X`` with
  ``X ~ Pareto(alpha)`` (numpy's ``pareto``, i.e. Lomax: ``X = U**(-1/alpha) - 1``);
  ``key = p + X`` and the k largest keys are exactly the k units that pass the rule by
  the widest margin, so the result is the rule "until k are kept".

With ``top_k`` every method drops the noise (``key = w``, ``key = p``; ``random`` still
needs its noise and ignores ``top_k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsir.sample.gumbel import gumbel_noise, seed_key, uniform_from_hashes

METHODS = ("dsir", "random", "classifier", "reference", "discriminative")
#: Methods whose keys are importance weights (``weighting``, ``temperature`` and Gumbel noise).
IMPORTANCE_METHODS = ("dsir", "reference", "discriminative")
WEIGHTINGS = ("mean", "sum")
PARETO_STREAM = 3
#: The default weighting of ``dsir select`` (chosen on bench/quality.py; see bench/README.md);
#: each method's default temperature is ``estimate.methods.Method.temperature``.
DEFAULT_WEIGHTING = "mean"


@dataclass(frozen=True)
class KeyRule:
    """How a unit's scores become its selection key (see the module docstring).

    ``method`` is one of ``METHODS``; ``weighting`` and ``temperature`` apply to the
    ``IMPORTANCE_METHODS``, ``pareto_alpha`` to ``classifier``.
    """

    method: str = "dsir"
    weighting: str = "sum"
    temperature: float = 1.0
    top_k: bool = False
    pareto_alpha: float = 9.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if not self.pareto_alpha > 0:
            raise ValueError(f"pareto_alpha must be positive, got {self.pareto_alpha}")

    def weights(self, score_sum: np.ndarray, n_ngrams: np.ndarray) -> np.ndarray:
        """The unit's weight before noise: ``dsir``'s (tempered) log-weight, or the classifier's
        probability (``score_sum`` is then the sum of the classifier's coefficients, the
        intercept included by the caller as a per-n-gram term); zero for ``random``."""
        if self.method == "random":
            return np.zeros(len(score_sum), dtype=np.float64)
        if self.method == "classifier":
            z = mean_per_ngram(score_sum, n_ngrams)
            return 1.0 / (1.0 + np.exp(-z))
        w = score_sum if self.weighting == "sum" else mean_per_ngram(score_sum, n_ngrams)
        return w / self.temperature

    def keys(self, score_sum: np.ndarray, n_ngrams: np.ndarray, hashes: np.ndarray, eligible: np.ndarray,
             seed: int) -> np.ndarray:
        """Sort keys of the units; ``-inf`` for ineligible ones."""
        if np.isnan(score_sum).any():
            raise ValueError("scores contain NaN")
        keys = self.weights(score_sum, n_ngrams)
        if self.method == "random" or not self.top_k:
            if self.method == "classifier":
                keys = keys + pareto_noise(hashes, seed, self.pareto_alpha)
            else:
                keys = keys + gumbel_noise(hashes, seed)
        keys = np.asarray(keys, dtype=np.float64)
        keys[~eligible] = -np.inf
        return keys

    @property
    def params(self) -> dict:
        p: dict = {"method": self.method, "top_k": self.top_k}
        if self.method in IMPORTANCE_METHODS:
            p.update(weighting=self.weighting, temperature=self.temperature)
        elif self.method == "classifier":
            p.update(pareto_alpha=self.pareto_alpha)
        return p


def mean_per_ngram(score_sum: np.ndarray, n_ngrams: np.ndarray) -> np.ndarray:
    """``score_sum / n_ngrams``, 0 for units without n-grams."""
    n = np.asarray(n_ngrams, dtype=np.float64)
    return np.divide(score_sum, n, out=np.zeros(len(score_sum), dtype=np.float64), where=n > 0)


def pareto_noise(hashes: np.ndarray, seed: int, alpha: float) -> np.ndarray:
    """numpy-style ``pareto(alpha)`` (Lomax) draws ``U**(-1/alpha) - 1`` from the unit hashes."""
    u = uniform_from_hashes(hashes, seed_key(seed, PARETO_STREAM))
    return np.power(u, -1.0 / alpha) - 1.0


def allocate(k: int, proportions: list[float]) -> list[int]:
    """Split ``k`` into integer shares proportional to ``proportions`` (largest remainder;
    equal remainders go to the earlier target). The shares sum to ``k``."""
    p = np.asarray(proportions, dtype=np.float64)
    if len(p) == 0 or (p <= 0).any() or not np.isfinite(p).all():
        raise ValueError(f"proportions must be positive numbers, got {proportions}")
    exact = k * p / p.sum()
    shares = np.floor(exact).astype(np.int64)
    order = sorted(range(len(p)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: k - int(shares.sum())]:
        shares[i] += 1
    return [int(s) for s in shares]
