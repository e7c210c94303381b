"""The heuristic-classification baseline (GPT-3; the DSIR paper's baseline): a binary
logistic regression on the same hashed n-gram features, target (label 1) against a raw
sample (label 0).

Features: a unit's n-gram bucket frequencies ``x_b = count_b / n_ngrams`` (a bag of
n-grams that does not grow with length). The model is
``p(target | x) = sigmoid(sum_b coef_[b] * x_b + intercept_)``, which is the mean of
``coef_ + intercept_`` over the unit's n-grams, so scoring reuses the featurizer's compiled
score kernel with ``log_ratio = coef_ + intercept_`` (``score_vector_``) and divides by
the n-gram count.

Training is full-batch Adam on the class-balanced, L2-regularized log loss, in numba
kernels over the CSR bucket ids (``HashedNgramFeaturizer.buckets_of``) and their CSC
transpose: no per-token Python, and a result that is bit for bit the same for the same
inputs on any number of threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
from numba import njit

#: Below this many n-grams per thread, a thread costs more than it saves.
_MIN_ENTRIES_PER_THREAD = 50_000
#: A coefficient's Adam step, in units of one gradient entry (for balancing the chunks).
_STEP_COST = 4
#: Up to this many documents, the CSC transpose numbers them in 16 bits.
_SHORT_DOCUMENT_NUMBERS = 1 << 16


_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


@njit(cache=True, nogil=True)
def _columns(indptr, ids, columns, doc_of):
    """The CSC transpose of CSR ids: ``col_ptr``, and each entry's document in column order
    written to ``doc_of``.

    A stable counting sort, so a column's entries keep the CSR order (document, then
    position): summing them in that order adds what the serial scatter added, in its order.
    """
    col_ptr = np.zeros(columns + 1, np.int64)
    for p in range(len(ids)):
        col_ptr[ids[p] + 1] += 1
    for j in range(columns):
        col_ptr[j + 1] += col_ptr[j]
    fill = col_ptr[:-1].copy()
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            doc_of[fill[ids[p]]] = i
            fill[ids[p]] += 1
    return col_ptr


@njit(cache=True, nogil=True)
def _count(ids, counts):
    for p in range(len(ids)):
        counts[ids[p]] += 1


@njit(cache=True, nogil=True)
def _renumber(ids, renumber, out):
    for p in range(len(ids)):
        out[p] = renumber[ids[p]]


@njit(cache=True, nogil=True)
def _total(values):
    """``values.sum()`` as numba adds it (in order; numpy's pairwise sum rounds differently)."""
    return values.sum()


@njit(cache=True, nogil=True)
def _document_terms(indptr, ids, y, sample_weight, coef, b, lo, hi, loss_terms, residual, scaled):
    """For documents ``lo:hi``: the weighted loss term, the residual ``w (p - y)`` (the
    intercept's gradient term) and the residual over the length (each n-gram's)."""
    for i in range(lo, hi):
        length = indptr[i + 1] - indptr[i]
        if length == 0:
            continue
        inv = 1.0 / length
        z = b
        for p in range(indptr[i], indptr[i + 1]):
            z += coef[ids[p]] * inv
        # log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, computed stably
        s = z if y[i] == 0 else -z
        loss_terms[i] = sample_weight[i] * (max(s, 0.0) + np.log1p(np.exp(-abs(s))))
        prob = 1.0 / (1.0 + np.exp(-z))
        r = sample_weight[i] * (prob - y[i])
        residual[i] = r
        scaled[i] = r * inv


@njit(cache=True, nogil=True)
def _epoch_totals(indptr, loss_terms, residual, coef, reg_order, epoch, total_weight, l2, learning_rate, state,
                  loss_out):
    """The epoch's loss (in document order; the L2 term over the coefficients before their
    update, in ``reg_order``) and the intercept's Adam step; ``state`` is ``[b, m_b, v_b, c1, c2]``."""
    loss = 0.0
    grad_b = 0.0
    for i in range(len(indptr) - 1):
        if indptr[i + 1] > indptr[i]:
            loss += loss_terms[i]
            grad_b += residual[i]
    reg = 0.0
    for q in range(len(reg_order)):
        c = coef[reg_order[q]]
        reg += c * c
    t = epoch + 1
    c1 = 1.0 - _BETA1 ** t
    c2 = 1.0 - _BETA2 ** t
    g = grad_b / total_weight
    state[1] = _BETA1 * state[1] + (1 - _BETA1) * g
    state[2] = _BETA2 * state[2] + (1 - _BETA2) * g * g
    state[0] -= learning_rate * (state[1] / c1) / (np.sqrt(state[2] / c2) + _EPS)
    state[3], state[4] = c1, c2
    loss_out[epoch] = loss / total_weight + 0.5 * l2 * reg


@njit(cache=True, nogil=True)
def _coef_steps(col_ptr, doc_of, scaled, coef, m_w, v_w, total_weight, l2, learning_rate, c1, c2, lo, hi):
    """Adam steps of coefficients ``lo:hi``, each gradient summed down its column."""
    for j in range(lo, hi):
        grad = 0.0
        for e in range(col_ptr[j], col_ptr[j + 1]):
            grad += scaled[doc_of[e]]
        g = grad / total_weight + l2 * coef[j]
        m_w[j] = _BETA1 * m_w[j] + (1 - _BETA1) * g
        v_w[j] = _BETA2 * v_w[j] + (1 - _BETA2) * g * g
        coef[j] -= learning_rate * (m_w[j] / c1) / (np.sqrt(v_w[j] / c2) + _EPS)


def _chunks(lengths: np.ndarray, chunks: int, fixed_cost: int) -> list[tuple[int, int]]:
    """``chunks`` ranges of rows of about equal work, a row costing its length plus ``fixed_cost``."""
    cost = np.concatenate([[0], np.cumsum(lengths + fixed_cost)])
    bounds = np.searchsorted(cost, np.linspace(0, cost[-1], chunks + 1)).tolist()
    bounds[0], bounds[-1] = 0, len(lengths)
    return list(zip(bounds[:-1], bounds[1:]))


def _adam_logistic(indptr: np.ndarray, ids: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, columns: int,
                   l2: float, learning_rate: float, epochs: int, threads: int = 1,
                   reg_order: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """Full-batch Adam on the weighted log loss: ``(coef, intercept, loss per epoch)``.
    The loss's L2 term sums the squared coefficients in ``reg_order`` (default: 0, 1, ...).

    Each epoch is three kernels: per-document terms (over chunks of documents), their
    totals in document order with the intercept's step (one thread), and each coefficient's
    gradient summed down its CSC column with its step (over chunks of columns). Every sum
    adds the same numbers in the same order whatever ``threads`` is, so the result is bit
    for bit the same with any number of threads.
    """
    n = len(indptr) - 1
    # Documents numbered in 16 bits when they fit: the column pass streams these, half the bytes
    doc_of = np.empty(len(ids), np.uint16 if n <= _SHORT_DOCUMENT_NUMBERS else np.int32)
    col_ptr = _columns(indptr, ids, columns, doc_of)
    if reg_order is None:
        reg_order = np.arange(columns, dtype=np.int32)
    coef, m_w, v_w = np.zeros(columns), np.zeros(columns), np.zeros(columns)
    loss_terms, residual, scaled = np.zeros(n), np.zeros(n), np.zeros(n)
    state, loss = np.zeros(5), np.zeros(epochs)
    total_weight = _total(sample_weight)
    threads = max(1, min(threads, len(ids) // _MIN_ENTRIES_PER_THREAD))
    doc_chunks = _chunks(np.diff(indptr), threads, 1)
    col_chunks = _chunks(np.diff(col_ptr), threads, _STEP_COST)

    def documents(chunk: tuple[int, int]) -> None:
        _document_terms(indptr, ids, y, sample_weight, coef, state[0], chunk[0], chunk[1],
                        loss_terms, residual, scaled)

    def steps(chunk: tuple[int, int]) -> None:
        _coef_steps(col_ptr, doc_of, scaled, coef, m_w, v_w, total_weight, l2, learning_rate, state[3], state[4],
                    chunk[0], chunk[1])

    with ThreadPoolExecutor(threads, thread_name_prefix="dsir-fit") if threads > 1 else nullcontext() as pool:
        run = pool.map if pool is not None else map
        for epoch in range(epochs):
            list(run(documents, doc_chunks))
            _epoch_totals(indptr, loss_terms, residual, coef, reg_order, epoch, total_weight, l2, learning_rate, state,
                          loss)
            list(run(steps, col_chunks))
    return coef, float(state[0]), loss


class HashedNgramClassifier:
    """Logistic regression, target against raw, over hashed n-gram bucket frequencies.

    Parameters: ``buckets`` (the feature space's size), ``l2`` (penalty on the
    coefficients, per unit of mean loss), ``learning_rate`` and ``epochs`` of full-batch
    Adam. The two classes are weighted equally however many documents each has. ``threads``
    is how many threads train (execution only: the fit is bit for bit the same with any).

    After ``fit``: ``coef_`` (float64[buckets]), ``intercept_``, ``loss_`` (per epoch),
    and ``score_vector_ = coef_ + intercept_`` (what the score kernel sums).
    """

    def __init__(self, buckets: int, l2: float = 1e-6, learning_rate: float = 0.2, epochs: int = 150,
                 threads: int = 1):
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if learning_rate <= 0 or epochs < 1:
            raise ValueError("learning_rate must be positive and epochs at least 1")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.buckets = buckets
        self.l2 = l2
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.threads = threads

    def fit(self, target: tuple[np.ndarray, np.ndarray], raw: tuple[np.ndarray, np.ndarray]) -> HashedNgramClassifier:
        """Fit on CSR bucket ids ``(indptr, ids)`` of target documents and of raw documents."""
        (tp, ti), (rp, ri) = target, raw
        n_t, n_r = len(tp) - 1, len(rp) - 1
        if n_t == 0 or n_r == 0:
            raise ValueError("the classifier needs at least one target and one raw document")
        indptr = np.concatenate([tp, rp[1:] + tp[-1]]).astype(np.int64)
        for ids in (ti, ri):
            if len(ids) and (ids.min() < 0 or ids.max() >= self.buckets):
                raise ValueError("bucket ids out of range for this feature space")
        y = np.concatenate([np.ones(n_t), np.zeros(n_r)])
        sample_weight = np.concatenate([np.full(n_t, 0.5 / n_t), np.full(n_r, 0.5 / n_r)])
        # A bucket no training document has keeps a zero gradient, so Adam leaves its coefficient
        # at exactly 0: training over the buckets that occur gives the same coefficients while its
        # arrays stay in cache however large the hash space. They are numbered densely, the most
        # frequent first (ties in bucket order), so that the coefficients most documents read sit
        # together in cache: the sums add the same values in the same order whatever the
        # numbering, and the L2 term is summed in bucket order (``reg_order``). Counted and
        # renumbered by loops into one int32 array: the kernels stream the ids twice an epoch
        # (half the bytes of int64), and numpy would first copy int32 indices to int64.
        counts = np.zeros(self.buckets, np.int64)
        _count(ti, counts)
        _count(ri, counts)
        used = np.flatnonzero(counts)
        by_frequency = used[np.argsort(-counts[used], kind="stable")]
        renumber = np.zeros(self.buckets, dtype=np.int32)
        renumber[by_frequency] = np.arange(len(used), dtype=np.int32)
        dense = np.empty(len(ti) + len(ri), np.int32)
        _renumber(ti, renumber, dense[:len(ti)])
        _renumber(ri, renumber, dense[len(ti):])
        coef, self.intercept_, self.loss_ = _adam_logistic(
            indptr, dense, y, sample_weight, len(used), float(self.l2), float(self.learning_rate), int(self.epochs),
            self.threads, reg_order=renumber[used])
        self.coef_ = np.zeros(self.buckets)
        self.coef_[by_frequency] = coef
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
