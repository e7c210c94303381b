"""The heuristic-classification baseline (GPT-3; the DSIR paper's baseline): a binary
logistic regression on the same hashed n-gram features, target (label 1) against a raw
sample (label 0).

Features: a unit's n-gram bucket frequencies ``x_b = count_b / n_ngrams`` (a bag of
n-grams that does not grow with length). The model is
``p(target | x) = sigmoid(sum_b coef_[b] * x_b + intercept_)``, which is the mean of
``coef_ + intercept_`` over the unit's n-grams, so scoring reuses the featurizer's compiled
score kernel with ``log_ratio = coef_ + intercept_`` (``score_vector_``) and divides by
the n-gram count.

Training is full-batch Adam on the class-balanced, L2-regularized log loss, in a numba
kernel over the CSR bucket ids (``HashedNgramFeaturizer.buckets_of``): no per-token
Python, and a deterministic result for the same inputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _adam_logistic(indptr, ids, y, sample_weight, buckets, l2, learning_rate, epochs, coef, intercept_out, loss_out):
    n = len(indptr) - 1
    m_w = np.zeros(buckets)
    v_w = np.zeros(buckets)
    m_b = 0.0
    v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    b = 0.0
    grad = np.zeros(buckets)
    total_weight = sample_weight.sum()
    for epoch in range(epochs):
        grad[:] = 0.0
        grad_b = 0.0
        loss = 0.0
        for i in range(n):
            length = indptr[i + 1] - indptr[i]
            if length == 0:
                continue
            inv = 1.0 / length
            z = b
            for p in range(indptr[i], indptr[i + 1]):
                z += coef[ids[p]] * inv
            # log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, computed stably
            s = z if y[i] == 0 else -z
            loss += sample_weight[i] * (max(s, 0.0) + np.log1p(np.exp(-abs(s))))
            prob = 1.0 / (1.0 + np.exp(-z))
            r = sample_weight[i] * (prob - y[i])
            grad_b += r
            r *= inv
            for p in range(indptr[i], indptr[i + 1]):
                grad[ids[p]] += r
        t = epoch + 1
        c1 = 1.0 - beta1 ** t
        c2 = 1.0 - beta2 ** t
        reg = 0.0
        for j in range(buckets):
            g = grad[j] / total_weight + l2 * coef[j]
            reg += coef[j] * coef[j]
            m_w[j] = beta1 * m_w[j] + (1 - beta1) * g
            v_w[j] = beta2 * v_w[j] + (1 - beta2) * g * g
            coef[j] -= learning_rate * (m_w[j] / c1) / (np.sqrt(v_w[j] / c2) + eps)
        g = grad_b / total_weight
        m_b = beta1 * m_b + (1 - beta1) * g
        v_b = beta2 * v_b + (1 - beta2) * g * g
        b -= learning_rate * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
        loss_out[epoch] = loss / total_weight + 0.5 * l2 * reg
    intercept_out[0] = b


class HashedNgramClassifier:
    """Logistic regression, target against raw, over hashed n-gram bucket frequencies.

    Parameters: ``buckets`` (the feature space's size), ``l2`` (penalty on the
    coefficients, per unit of mean loss), ``learning_rate`` and ``epochs`` of full-batch
    Adam. The two classes are weighted equally however many documents each has.

    After ``fit``: ``coef_`` (float64[buckets]), ``intercept_``, ``loss_`` (per epoch),
    and ``score_vector_ = coef_ + intercept_`` (what the score kernel sums).
    """

    def __init__(self, buckets: int, l2: float = 1e-6, learning_rate: float = 0.2, epochs: int = 150):
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if learning_rate <= 0 or epochs < 1:
            raise ValueError("learning_rate must be positive and epochs at least 1")
        self.buckets = buckets
        self.l2 = l2
        self.learning_rate = learning_rate
        self.epochs = epochs

    def fit(self, target: tuple[np.ndarray, np.ndarray], raw: tuple[np.ndarray, np.ndarray]) -> HashedNgramClassifier:
        """Fit on CSR bucket ids ``(indptr, ids)`` of target documents and of raw documents."""
        (tp, ti), (rp, ri) = target, raw
        n_t, n_r = len(tp) - 1, len(rp) - 1
        if n_t == 0 or n_r == 0:
            raise ValueError("the classifier needs at least one target and one raw document")
        indptr = np.concatenate([tp, rp[1:] + tp[-1]]).astype(np.int64)
        ids = np.concatenate([ti, ri]).astype(np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.buckets):
            raise ValueError("bucket ids out of range for this feature space")
        y = np.concatenate([np.ones(n_t), np.zeros(n_r)])
        sample_weight = np.concatenate([np.full(n_t, 0.5 / n_t), np.full(n_r, 0.5 / n_r)])
        # A bucket no training document has keeps a zero gradient, so Adam leaves its coefficient
        # at exactly 0: training over the buckets that occur (renumbered densely, in order) gives
        # the same coefficients while its arrays stay in cache however large the hash space.
        # np.unique's renumbering by a lookup table (linear, not a sort), and int32 ids: the
        # kernel streams them twice an epoch, so half the bytes is a tenth of its time.
        present = np.zeros(self.buckets, dtype=bool)
        present[ids] = True
        used = np.flatnonzero(present)
        renumber = np.zeros(self.buckets, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        dense = renumber[ids]
        coef = np.zeros(len(used))
        intercept = np.zeros(1)
        loss = np.zeros(self.epochs)
        _adam_logistic(indptr, dense, y, sample_weight, len(used), float(self.l2),
                       float(self.learning_rate), int(self.epochs), coef, intercept, loss)
        self.coef_ = np.zeros(self.buckets)
        self.coef_[used] = coef
        self.intercept_ = float(intercept[0])
        self.loss_ = loss
        self.score_vector_ = self.coef_ + self.intercept_
        return self

    def decision_function(self, indptr: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``coef_ . x + intercept_`` per document of a CSR batch (0 n-grams: the intercept)."""
        lengths = np.diff(indptr)
        doc_of = np.repeat(np.arange(len(lengths)), lengths)
        sums = np.bincount(doc_of, weights=self.coef_[ids], minlength=len(lengths))
        return np.divide(sums, lengths, out=np.zeros(len(lengths)), where=lengths > 0) + self.intercept_

    def predict_proba(self, indptr: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Probability that each document is target-like."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(indptr, ids)))
