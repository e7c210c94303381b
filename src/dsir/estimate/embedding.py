"""A logistic regression in an embedding space: target documents against a raw sample.

A document is the mean of its pieces' vectors (``StaticEmbeddingFeaturizer.vectors``). The
features are standardized (by the mean and deviation of the training documents, both
classes pooled), the classes weighted to equal total weight, and ``coef_ . x + intercept_``
fitted by full-batch Adam on the L2-regularized log loss in a numba kernel whose sums run
in a fixed order: the same inputs give the same coefficients bit for bit.

``coef_`` and ``intercept_`` are mapped back to the unstandardized space, so the log-odds of
a document is ``coef_ . mean(vectors[pieces]) + intercept_``: the mean over its pieces of
``vectors @ coef_ + intercept_`` (``piece_scores``), a score vector over the buckets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


@njit(cache=True, nogil=True)
def mean_vectors(indptr, ids, vectors):
    """float64[documents, dimensions]: each CSR document's mean piece vector (0 for none)."""
    n, d = len(indptr) - 1, vectors.shape[1]
    out = np.zeros((n, d))
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            v = vectors[ids[p]]
            for j in range(d):
                out[i, j] += v[j]
        m = indptr[i + 1] - indptr[i]
        if m:
            for j in range(d):
                out[i, j] /= m
    return out


@njit(cache=True, nogil=True)
def _adam_dense(x, y, weight, l2, learning_rate, epochs):
    n, d = x.shape
    w = np.zeros(d + 1)  # the last is the intercept (not regularized)
    m1 = np.zeros(d + 1)
    m2 = np.zeros(d + 1)
    grad = np.zeros(d + 1)
    loss = 0.0
    for epoch in range(epochs):
        grad[:] = 0.0
        loss = 0.0
        for i in range(n):
            z = w[d]
            for j in range(d):
                z += w[j] * x[i, j]
            # log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, without overflow
            s = z if y[i] == 0 else -z
            loss += weight[i] * (max(s, 0.0) + np.log1p(np.exp(-abs(s))))
            p = 1.0 / (1.0 + np.exp(-z))
            g = weight[i] * (p - y[i])
            for j in range(d):
                grad[j] += g * x[i, j]
            grad[d] += g
        for j in range(d):
            grad[j] += l2 * w[j]
            loss += 0.5 * l2 * w[j] * w[j]
        t = epoch + 1
        for j in range(d + 1):
            m1[j] = _BETA1 * m1[j] + (1 - _BETA1) * grad[j]
            m2[j] = _BETA2 * m2[j] + (1 - _BETA2) * grad[j] * grad[j]
            w[j] -= learning_rate * (m1[j] / (1 - _BETA1 ** t)) / (np.sqrt(m2[j] / (1 - _BETA2 ** t)) + _EPS)
    return w, loss


@njit(cache=True, nogil=True)
def _matvec(a, v):
    """``a @ v`` with each row's sum in index order (BLAS may split it by threads and CPU)."""
    out = np.zeros(a.shape[0])
    for i in range(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            s += a[i, j] * v[j]
        out[i] = s
    return out


class EmbeddingLogisticRegression:
    """``p(target | x) = sigmoid(coef_ . x + intercept_)`` on document vectors ``x``.

    Parameters: ``l2`` (on the standardized coefficients, per unit of the class-balanced mean
    loss), ``learning_rate`` and ``epochs`` of full-batch Adam. After ``fit``: ``coef_``
    (float64[dimensions]), ``intercept_``, ``loss_`` (the last epoch's regularized loss).
    """

    def __init__(self, l2: float, learning_rate: float, epochs: int):
        if not (l2 >= 0 and np.isfinite(l2)):
            raise ValueError(f"l2 must be a number >= 0, got {l2}")
        if not (learning_rate > 0 and np.isfinite(learning_rate)):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.l2, self.learning_rate, self.epochs = l2, learning_rate, epochs

    def fit(self, target: np.ndarray, raw: np.ndarray) -> EmbeddingLogisticRegression:
        """Fit on document vectors of the target (label 1) and of the raw sample (label 0)."""
        n_t, n_r = len(target), len(raw)
        if n_t == 0 or n_r == 0:
            raise ValueError("the classifier needs at least one target and one raw document")
        x = np.concatenate([target, raw]).astype(np.float64)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0
        x = np.ascontiguousarray((x - mean) / scale)
        y = np.concatenate([np.ones(n_t), np.zeros(n_r)])
        weight = np.concatenate([np.full(n_t, 0.5 / n_t), np.full(n_r, 0.5 / n_r)])
        w, self.loss_ = _adam_dense(x, y, weight, float(self.l2), float(self.learning_rate), int(self.epochs))
        self.coef_ = w[:-1] / scale
        self.intercept_ = float(w[-1] - _matvec(mean[None, :], self.coef_)[0])
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """``coef_ . x + intercept_`` per row of ``x``."""
        return _matvec(np.ascontiguousarray(x, np.float64), self.coef_) + self.intercept_

    def piece_scores(self, vectors: np.ndarray) -> np.ndarray:
        """float64[pieces]: ``vectors @ coef_``, whose mean over a document's pieces, plus
        ``intercept_``, is its log-odds."""
        return _matvec(np.ascontiguousarray(vectors, np.float64), self.coef_)
