"""``data_selection.base``: the reference's base class ``DSIR`` and its default loaders.

The base class holds what does not depend on the features: virtual shards, the per-document
loop of ``compute_importance_weights`` (for subclasses that define their own hooks),
``resample`` and ``save``/``load``. ``HashedNgramDSIR`` runs the hashed n-gram case on
dsir's compiled pipeline instead of that loop.
"""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dsir.compat.data_selection import __version__
from dsir.compat.data_selection.utils import parallelize
from dsir.engines.local import default_workers


def default_load_dataset_fn(path: str) -> Iterator[dict]:
    """The records of a jsonl file: ``json.loads`` of every line that is not blank.

    The reference meant to skip empty lines (``if len(line) > 0``, never false for a line
    read from a file) and fails on a blank one; here blank lines are skipped, as dsir's
    compiled reader skips them, so both count the same rows.
    """
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def default_parse_example_fn(ex: dict) -> str:
    """The text of a record: its ``text`` field."""
    return ex["text"]


def _iterate_virtually_sharded_dataset(dataset: Iterable, num_shards: int, shard_idx: int) -> Iterator:
    """The items ``i`` of ``dataset`` with ``i % num_shards == shard_idx``."""
    for i, ex in enumerate(dataset):
        if i % num_shards == shard_idx:
            yield ex


def is_default_fn(fn: Any, name: str) -> bool:
    """Whether ``fn`` is this module's (or the reference's) function ``name``.

    By name and module, not identity: a script that aliases only ``data_selection`` gets a
    second copy of this module under ``data_selection.base``, whose functions are the same.
    """
    return getattr(fn, "__name__", None) == name and getattr(fn, "__module__", "") in (
        __name__, "data_selection.base")


def shards_by_dataset(shards: list[dict]) -> list[list[dict]]:
    """Virtual shards (``DSIR._get_virtually_sharded_datasets``) grouped by dataset, in order."""
    groups: list[list[dict]] = []
    for s in shards:
        if s["shard_idx"] == 0:
            groups.append([])
        groups[-1].append(s)
    return groups


class DSIR:
    """Base class for data selection with importance resampling (the reference's ``DSIR``).

    A subclass defines ``featurizer``, ``importance_estimator`` and
    ``fit_importance_estimator`` (and optionally ``get_perexample_metadata`` with
    ``perexample_metadata_filter``); ``compute_importance_weights`` calls them once per raw
    example. Raw example ``i`` of a dataset with ``S`` virtual shards belongs to shard
    ``i % S``; shard ``overall_idx`` keeps its weights in
    ``cache_dir/log_importance_weights/{overall_idx}.npy`` and its metadata in
    ``cache_dir/perexample_metadata/{overall_idx}.npy``.
    """

    __version__ = __version__
    _TRANSIENT = ("_native",)  # attributes that ``save`` does not pickle (handles, not results)

    def __init__(self,
                 raw_datasets: list[str],
                 target_datasets: list[str],
                 cache_dir: str,
                 raw_load_dataset_fn: Callable[[str], Iterable[dict]] = default_load_dataset_fn,
                 raw_parse_example_fn: Callable[[dict], str] | None = default_parse_example_fn,
                 target_load_dataset_fn: Callable[[str], Iterable[dict]] = default_load_dataset_fn,
                 target_parse_example_fn: Callable[[dict], str] | None = default_parse_example_fn,
                 num_proc: int | None = None,
                 separate_targets: bool = False,
                 target_proportions: list[float] | None = None) -> None:
        """
        Args:
            raw_datasets: paths of the raw datasets (what ``raw_load_dataset_fn`` takes)
            target_datasets: paths of the target datasets
            cache_dir: where the log importance weights and per-example metadata go
            raw_load_dataset_fn: path -> iterable of raw examples
            raw_parse_example_fn: example -> text (``None``: the example is the text)
            target_load_dataset_fn: path -> iterable of target examples
            target_parse_example_fn: example -> text (``None``: the example is the text)
            num_proc: virtual shards and workers; ``None``: the CPUs this process may use
            separate_targets: select for each target separately, then join the selections
            target_proportions: each target's share of the selection with
                ``separate_targets`` (normalized; ``None``: by the targets' n-gram counts)
        """
        self.raw_datasets = raw_datasets
        self.target_datasets = target_datasets
        self.raw_parse_example_fn = raw_parse_example_fn
        self.raw_load_dataset_fn = raw_load_dataset_fn
        self.target_parse_example_fn = target_parse_example_fn
        self.target_load_dataset_fn = target_load_dataset_fn
        self.cache_dir = Path(cache_dir)
        self.num_proc = default_workers() if num_proc is None else num_proc
        self.log_importance_weights_dir = self.cache_dir / "log_importance_weights"
        self.log_importance_weights_dir.mkdir(parents=True, exist_ok=True)
        self.perexample_metadata_dir = self.cache_dir / "perexample_metadata"
        self.separate_targets = separate_targets
        self.target_proportions = target_proportions
        if self.target_proportions is not None:
            self.target_proportions = np.asarray(self.target_proportions) / np.sum(self.target_proportions)

    def _get_virtually_sharded_datasets(self, datasets: list[str]) -> list[dict]:
        """Virtual shards ``{path, shard_idx, num_shards, overall_idx}``: ``num_proc`` split
        over the datasets (the first ``num_proc % len(datasets)`` get one more), at least one
        per dataset."""
        num_proc_per_shard = max(1, self.num_proc // len(datasets))
        remainder = self.num_proc % len(datasets) if self.num_proc >= len(datasets) else 0
        shard_params, overall_idx = [], 0
        for i, dataset in enumerate(datasets):
            curr = num_proc_per_shard + (1 if i < remainder else 0)
            for j in range(curr):
                shard_params.append({"path": dataset, "shard_idx": j, "num_shards": curr, "overall_idx": overall_idx})
                overall_idx += 1
        return shard_params

    # -- hooks ---------------------------------------------------------------------------

    def featurizer(self, text: str) -> np.ndarray:
        """The feature vector of a text."""
        raise NotImplementedError

    def importance_estimator(self, features: np.ndarray) -> float | np.ndarray:
        """The log importance weight of a feature vector (one per target with ``separate_targets``)."""
        raise NotImplementedError

    def get_perexample_metadata(self, ex: Any, features: np.ndarray) -> Any:
        """Per-example metadata that ``perexample_metadata_filter`` reads (none by default)."""
        raise NotImplementedError

    def perexample_metadata_filter(self, concat_metadata: np.ndarray) -> np.ndarray:
        """Which examples may be selected (a boolean array), from all their metadata."""
        raise NotImplementedError

    def fit_importance_estimator(self) -> None:
        """Fit what ``importance_estimator`` needs."""
        raise NotImplementedError

    # -- weights -------------------------------------------------------------------------

    def compute_importance_weights(self) -> None:
        """Every raw example's log importance weight (and metadata), saved per virtual shard."""
        self._compute_per_example()

    def _compute_per_example(self) -> None:
        """The reference's loop: ``featurizer``, ``importance_estimator`` and
        ``get_perexample_metadata`` once per raw example, in Python.

        Each dataset is read once for all its virtual shards (the reference reads it once per
        shard); the datasets run on ``num_proc`` threads.
        """
        groups = shards_by_dataset(self._get_virtually_sharded_datasets(self.raw_datasets))

        def job(group: list[dict]) -> None:
            n = len(group)
            weights: list[list] = [[] for _ in group]
            metadata: list[list] | None = [[] for _ in group]
            for i, ex in enumerate(self.raw_load_dataset_fn(group[0]["path"])):
                text = self.raw_parse_example_fn(ex) if self.raw_parse_example_fn is not None else ex
                features = self.featurizer(text)
                weights[i % n].append(self.importance_estimator(features))
                if metadata is not None:
                    try:
                        metadata[i % n].append(self.get_perexample_metadata(ex, features))
                    except NotImplementedError:
                        metadata = None
            for j, shard in enumerate(group):
                self._save_shard(shard["overall_idx"], np.asarray(weights[j]),
                                 None if metadata is None else np.asarray(metadata[j]))

        parallelize(job, groups, self.num_proc)

    def _save_shard(self, overall_idx: int, weights: np.ndarray, metadata: np.ndarray | None) -> None:
        np.save(str(self.log_importance_weights_dir / f"{overall_idx}.npy"), weights)
        if metadata is not None:
            self.perexample_metadata_dir.mkdir(parents=True, exist_ok=True)
            np.save(str(self.perexample_metadata_dir / f"{overall_idx}.npy"), metadata)

    # -- resampling ----------------------------------------------------------------------

    def resample(self, out_dir: str, num_to_sample: int, cache_dir: str | None = None, top_k: bool = False,
                 seed: int | None = None) -> None:
        """Select ``num_to_sample`` raw examples and write them to ``out_dir/{i}.jsonl``.

        Without replacement, with probability by importance weight (Gumbel top-k: the largest
        ``log weight + Gumbel noise``), or the largest weights with ``top_k``. Only examples
        that pass ``perexample_metadata_filter`` (when metadata was saved) are candidates.
        With ``separate_targets`` target ``t`` gets ``int(num_to_sample * p_t)`` (the last
        one the rest), each by its own weights, never an example twice.

        ``{i}.jsonl`` holds the selected examples of virtual shard ``i``, in order: the lines
        themselves (stripped) with the default loader, else ``json.dumps`` of each example.
        They are written to ``cache_dir`` (default ``out_dir``), which is then moved to
        ``out_dir`` with ``shutil.move`` (into it, when ``out_dir`` already exists and is
        another directory).

        ``seed=None`` draws the noise from numpy's global random state, as the reference
        does (``np.random.seed`` makes it repeatable); an integer seed draws it from its own
        generator instead, one value per example in (dataset, row) order, so the selection
        is the same whatever ``num_proc`` and leaves the global state alone.
        """
        cache = Path(out_dir if cache_dir is None else cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        shards = self._get_virtually_sharded_datasets(self.raw_datasets)
        weights_ls = [np.load(str(self.log_importance_weights_dir / f"{s['overall_idx']}.npy"), mmap_mode="r")
                      for s in shards]
        lengths = np.array([len(w) for w in weights_ls], dtype=np.int64)
        # an empty shard is saved as shape (0,) even with several targets: leave it out
        weights = np.concatenate([w for w in weights_ls if len(w)] or [np.zeros(0)], axis=0)
        if self.perexample_metadata_dir.exists():
            metadata = np.concatenate([np.load(str(self.perexample_metadata_dir / f"{s['overall_idx']}.npy"),
                                               mmap_mode="r") for s in shards], axis=0)
            mask = np.asarray(self.perexample_metadata_filter(metadata), dtype=bool)
            del metadata
        else:
            mask = np.ones(len(weights), dtype=bool)
        if weights.ndim == 1:
            weights = weights[:, np.newaxis]
        if self.separate_targets:
            per_target = [int(num_to_sample * p) for p in self.target_proportions]
            per_target[-1] += num_to_sample - sum(per_target)
        else:
            per_target = [num_to_sample]
        noise = None
        if seed is not None and not top_k:
            rng = np.random.default_rng(seed)
            # drawn in (dataset, row) order and mapped to the shards' order: independent of num_proc
            noise = rng.gumbel(size=(len(per_target), len(weights)))[:, _natural_order(shards, lengths)]
        chosen = np.zeros(len(weights), dtype=bool)
        for t, k in enumerate(per_target):
            if k == 0:
                continue
            idx = np.flatnonzero(mask)
            w = np.array(weights[idx, t], dtype=np.float64)
            if not top_k:
                w += np.random.gumbel(size=w.shape) if noise is None else noise[t, idx]
            if k >= len(idx):  # the reference's argpartition fails here: take them all (and say so if short)
                if k > len(idx):
                    warnings.warn(f"resample: {k} examples asked for, {len(idx)} left to select from; all of "
                                  f"them are selected", stacklevel=2)
                picked = idx
            else:
                picked = idx[np.argpartition(-w, k)[:k]]
            chosen[picked] = True
            mask[picked] = False
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        masks = [chosen[bounds[i]:bounds[i + 1]] for i in range(len(shards))]
        groups = shards_by_dataset(shards)
        jobs = [(g, masks[g[0]["overall_idx"]:g[-1]["overall_idx"] + 1], cache) for g in groups]
        parallelize(lambda a: self._write_dataset(*a), jobs, self.num_proc)
        shutil.move(str(cache), str(out_dir))

    def _write_dataset(self, group: list[dict], masks: list[np.ndarray], cache: Path) -> None:
        """Write the selected examples of one dataset's shards, reading the dataset once."""
        n = len(group)
        chosen = np.zeros(sum(len(m) for m in masks), dtype=bool)
        for j, m in enumerate(masks):
            chosen[j::n] = m
        last = int(np.flatnonzero(chosen)[-1]) if chosen.any() else -1
        outs = [open(cache / f"{s['overall_idx']}.jsonl", "wb") for s in group]
        try:
            if last < 0:
                return
            if getattr(self.raw_load_dataset_fn, "__name__", None) == "default_load_dataset_fn":
                # copy the lines as they are (the reference does too): no parsing, no re-encoding
                i = 0
                with open(group[0]["path"], "rb") as f:
                    for line in f:
                        line = line.strip()
                        if not line:
                            continue
                        if chosen[i]:
                            outs[i % n].write(line + b"\n")
                        if i == last:
                            break
                        i += 1
            else:
                for i, ex in enumerate(self.raw_load_dataset_fn(group[0]["path"])):
                    if chosen[i]:
                        outs[i % n].write((json.dumps(ex) + "\n").encode("utf-8"))
                    if i == last:
                        break
        finally:
            for f in outs:
                f.close()

    # -- saving --------------------------------------------------------------------------

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def save(self, path: str) -> None:
        """Pickle this object to ``path`` (as the reference does: load only files you trust,
        unpickling runs code)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(self, f)

    def load(self, path: str, exclude_keys: list[str] | None = None) -> None:
        """Take the attributes of an object pickled by ``save`` (but ``exclude_keys``).

        Raises ``ValueError`` when it was saved by another version of this package.
        """
        with open(path, "rb") as f:
            obj = pickle.load(f)
        if obj.__version__ != self.__version__:
            raise ValueError(f"Version mismatch: {obj.__version__} != {self.__version__}")
        for k, v in obj.__dict__.items():
            if exclude_keys is not None and k in exclude_keys:
                continue
            setattr(self, k, v)


def _natural_order(shards: list[dict], lengths: np.ndarray) -> np.ndarray:
    """For each position of the shards' concatenation, its position in (dataset, row) order."""
    out = np.empty(int(lengths.sum()), dtype=np.int64)
    pos, start = 0, 0
    for group in shards_by_dataset(shards):
        n = len(group)
        for s in group:
            length = int(lengths[s["overall_idx"]])
            out[pos:pos + length] = start + s["shard_idx"] + n * np.arange(length)
            pos += length
        start += int(sum(lengths[s["overall_idx"]] for s in group))
    return out
