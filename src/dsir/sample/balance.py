"""Balanced selection: MetaCLIP's balancing over metadata entries, for text pools.

MetaCLIP (Xu et al., "Demystifying CLIP Data", 2023) keeps each match of an entry with
probability ``min(1, t / count(entry))``: a head entry (many matches) is capped at about
``t`` of them, a tail entry is kept whole. dsir takes the rule without its sampling noise:

* an **entry** is a value of ``--balance-field`` (one per unit), or a line of
  ``--balance-entries FILE`` that occurs in the unit's text as a substring (any number per
  unit; matched by Aho–Corasick, ``ahocorasick_rs``, on the lowercased text and entries).
  A chunk unit has its document's entries. A unit that matches no entry is not eligible
  (MetaCLIP drops such texts), and neither is a missing field value;
* every entry ranks its eligible units by their keys (the importance weights of the target,
  Gumbel-perturbed as in every selection; uniform keys without a target), and a unit's
  **balance rank** is its best rank over its entries;
* with ``--balance-cap T`` the units of balance rank below ``T`` are the balanced set: each
  entry keeps exactly its ``min(count, T)`` best units, the count MetaCLIP keeps in
  expectation, and a unit that matches several entries is kept when any of them keeps it
  (MetaCLIP's rule for such texts: a tail entry keeps its units even when they also match a
  head entry, which is what keeps the tail whole);
* the budget (``-k``, ``--fraction``, ``--tokens``; without one, all of the balanced set)
  takes units by balance rank, then by key: so ``-k`` alone implies the cap it reaches.

The balance decides how much of each entry, the weights decide which units. The order is a
pure function of (seed, unit identity, keys, entries), so the selection does not depend on
how the pool is split into files or workers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsir.errors import InputError, UsageError
from dsir.io.formats import MISSING

#: Entries per end (the most and the fewest matches) the manifest and report list.
HEAD_TAIL = 10


@dataclass(frozen=True)
class EntrySpec:
    """What the score pass matches: each unit's ``field`` value, or which of ``entries``
    (lowercased, in file order) occur in its lowercased text."""

    field: str | None = None
    entries: tuple[str, ...] = ()

    @property
    def by_field(self) -> bool:
        return self.field is not None


@dataclass(frozen=True)
class Balance:
    """``--balance-field`` or ``--balance-entries`` with ``--balance-cap`` (see the module doc);
    ``entries`` are the file's lines as matched (lowercased)."""

    field: str | None = None
    entries_path: str | None = None
    cap: int | None = None
    entries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.field is None) == (self.entries_path is None):
            raise UsageError("a balance needs exactly one of --balance-field and --balance-entries")
        if self.field is not None and not self.field.strip():
            raise UsageError("--balance-field needs a field name")
        if self.cap is not None and (isinstance(self.cap, bool) or not isinstance(self.cap, (int, np.integer))
                                     or self.cap < 1):
            raise UsageError(f"--balance-cap must be a positive number of units per entry, got {self.cap!r}")

    @classmethod
    def of(cls, field: str | None = None, entries_path: str | None = None, cap: int | None = None) -> Balance | None:
        """The balance of the options as given (None when none is); reads the entries file."""
        if field is None and entries_path is None:
            if cap is not None:
                raise UsageError("--balance-cap caps the entries of --balance-field or --balance-entries: give one")
            return None
        entries = read_entries(entries_path) if entries_path is not None else ()
        return cls(field, entries_path, None if cap is None else int(cap), entries)

    @property
    def spec(self) -> EntrySpec:
        return EntrySpec(self.field, self.entries)


def read_entries(path: str) -> tuple[str, ...]:
    """The entries of a file, one per line, lowercased, with leading and trailing spaces removed
    and blank lines skipped. A line that is not UTF-8, or repeats an earlier entry once
    lowercased, is an ``InputError`` that names the file and line."""
    import fsspec

    try:
        with fsspec.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError("no such file (--balance-entries)", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the entries file: {exc}", path=path) from exc
    lines, numbers = [], []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path, line=n) from None
        if text:
            lines.append(text)
            numbers.append(n)
    if not lines:
        raise InputError("the entries file has no entries (one per line)", path=path)
    lowered = pc.utf8_lower(pa.array(lines, pa.string())).to_pylist()
    first: dict[str, int] = {}
    for entry, n in zip(lowered, numbers):
        if entry in first:
            raise InputError(f"the entry {entry!r} repeats line {first[entry]} (entries are matched lowercased)",
                             path=path, line=n)
        first[entry] = n
    return tuple(lowered)


# -- the score pass: each unit's entries ------------------------------------------------------


@dataclass
class UnitEntries:
    """Each unit's entries as CSR (``ids[offsets[i]:offsets[i + 1]]``, ascending), and with a
    field, the names that the ids of this file index (``names``)."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64[units + 1]
    names: list[str] | None = None

    def take(self, rows: np.ndarray) -> UnitEntries:
        """The entries of ``rows`` (a unit per row, e.g. the document of each chunk)."""
        counts = np.diff(self.offsets)[rows]
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        starts = np.repeat(self.offsets[:-1][rows] - offsets[:-1], counts)
        return UnitEntries(self.ids[starts + np.arange(offsets[-1])], offsets, self.names)


_AUTOMATA: dict[int, object] = {}
_AUTOMATA_LOCK = threading.Lock()


def _automaton(entries: tuple[str, ...]):
    """The Aho–Corasick automaton of ``entries`` (bytes), built once per process."""
    with _AUTOMATA_LOCK:
        for known, automaton in _AUTOMATA.values():
            if known is entries:  # the same task's batches: no hashing of every entry again
                return automaton
        key = hash(entries)
        found = _AUTOMATA.get(key)
        if found is None or found[0] != entries:
            from ahocorasick_rs import BytesAhoCorasick

            found = (entries, BytesAhoCorasick([e.encode("utf-8") for e in entries]))
            _AUTOMATA.clear()  # one balance per run: keep the last
            _AUTOMATA[key] = found
    return found[1]


def match_entries(entries: tuple[str, ...], texts: pa.Array) -> UnitEntries:
    """Which ``entries`` occur in each of ``texts`` (lowercased) as substrings: one automaton
    pass over the batch's text buffer; a match that spans two texts is no match."""
    lowered = pc.utf8_lower(texts.cast(pa.large_string())).fill_null("")
    if isinstance(lowered, pa.ChunkedArray):
        lowered = lowered.combine_chunks()
    n = len(lowered)
    bufs = lowered.buffers()
    offsets = np.frombuffer(bufs[1], np.int64)[lowered.offset: lowered.offset + n + 1]
    data = (np.frombuffer(bufs[2], np.uint8)[offsets[0]: offsets[-1]] if bufs[2] is not None and n
            else np.empty(0, np.uint8))  # zero-copy: the automaton reads the Arrow buffer
    found = np.asarray(_automaton(entries).find_matches_as_indexes(data, overlapping=True), np.int64).reshape(-1, 3)
    rel = offsets - offsets[0]
    doc = np.searchsorted(rel, found[:, 1], side="right") - 1
    inside = found[:, 2] <= rel[np.minimum(doc + 1, n)]
    pairs = np.unique(doc[inside] * len(entries) + found[inside, 0])
    docs, ids = pairs // len(entries), (pairs % len(entries)).astype(np.int32)
    out = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(docs, minlength=n), out=out[1:])
    return UnitEntries(ids, out)


class FieldEntries:
    """Each unit's ``--balance-field`` value as its one entry, ids into the file's names in
    the order first seen (a missing value: no entry)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def of(self, labels: pa.Array) -> UnitEntries:
        encoded = pc.dictionary_encode(labels.cast(pa.string()))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        local = []
        for value in encoded.dictionary.to_pylist():  # once per distinct value of the batch
            if value is None or value == MISSING:
                local.append(-1)
                continue
            if value not in self._index:
                self._index[value] = len(self.names)
                self.names.append(value)
            local.append(self._index[value])
        lookup = np.asarray(local + [-1], np.int32)
        indices = encoded.indices.fill_null(len(local)).to_numpy(zero_copy_only=False).astype(np.int64)
        ids = lookup[indices]
        has = ids >= 0
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(has, out=offsets[1:])
        return UnitEntries(ids[has], offsets, self.names)


def concat_entries(parts: list[UnitEntries]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, offsets)`` of a file's batches, one after the other."""
    return concat_ragged([p.ids for p in parts], [p.offsets for p in parts], np.int32)


def concat_ragged(values: list[np.ndarray], offsets: list[np.ndarray],
                  dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays (``values[k][offsets[k][i]:offsets[k][i + 1]]`` is row ``i`` of part ``k``)
    one after the other, as ``(values of dtype, offsets from 0)``."""
    if not values:
        return np.empty(0, dtype), np.zeros(1, np.int64)
    sizes = np.concatenate([np.diff(o) for o in offsets])
    out = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=out[1:])
    return np.concatenate(values).astype(dtype), out


def pack_names(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(utf-8 bytes, offsets)`` of ``names``, as a scores file stores them."""
    encoded = [n.encode("utf-8") for n in names]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets


def unpack_names(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    """The inverse of ``pack_names``."""
    raw = data.tobytes()
    return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]


def load_balanced_keys(scores: list[dict], cap: int | None, entries: list[str] | None = None) -> BalancedKeys:
    """``balanced_keys`` of a run's scores files (each a dict of its arrays: ``keys``, ``hash``,
    ``entry_ids``, ``entry_offsets``, and for field entries, ``entries=None``, their names)."""
    ids = [s["entry_ids"] for s in scores]
    if entries is None:
        names, ids = global_entries([unpack_names(s["entry_names"], s["entry_name_offsets"]) for s in scores], ids)
    else:
        names = list(entries)
    return balanced_keys([s["keys"][0] for s in scores], [s["hash"] for s in scores], ids,
                         [s["entry_offsets"] for s in scores], names, cap)


# -- the allocation: balance ranks ---------------------------------------------------------


@dataclass
class BalancedKeys:
    """What ``balanced_keys`` computed: per file the units' new keys (larger first in balance
    order, ``-inf`` when not eligible), each entry's name and matching eligible units
    (``counts``), and per file the units' balance rank (-1 when not eligible)."""

    keys: list[np.ndarray]
    names: list[str]
    counts: np.ndarray
    ranks: list[np.ndarray]
    beyond_cap: int = 0  # units of balance rank T or more
    entries_of: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per file (ids, offsets), global ids

    def selected_counts(self, assigned: list[np.ndarray]) -> np.ndarray:
        """Per entry, the selected units that match it."""
        out = np.zeros(len(self.names), np.int64)
        for (ids, offsets), a in zip(self.entries_of, assigned):
            chosen = np.repeat(a >= 0, np.diff(offsets))
            out += np.bincount(ids[chosen], minlength=len(self.names))
        return out


def global_entries(entry_names: list[list[str] | None],
                   ids: list[np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    """Field entries: the names of all files, sorted, and each file's ids mapped to them
    (an entries file's ids index its lines already)."""
    names = sorted({n for ns in entry_names for n in (ns or [])})
    at = {n: i for i, n in enumerate(names)}
    mapped = [np.asarray([at[n] for n in (ns or [])], np.int32)[i] if len(i) else i.astype(np.int32)
              for ns, i in zip(entry_names, ids)]
    return names, mapped


def balanced_keys(keys: list[np.ndarray], hashes: list[np.ndarray], entry_ids: list[np.ndarray],
                  entry_offsets: list[np.ndarray], names: list[str], cap: int | None) -> BalancedKeys:
    """The balance order of every unit (module doc): per file ``keys[f]`` (float64, ``-inf``:
    not eligible), ``hashes[f]`` (the unit hashes that break ties), each unit's entries
    (global ids into ``names``). Returns keys whose descending order is the balance order."""
    n_files = len(keys)
    sizes = [len(k) for k in keys]
    key = np.concatenate(keys) if keys else np.empty(0)
    h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    file_of = np.repeat(np.arange(n_files), sizes)
    unit_of = np.concatenate([np.arange(s) for s in sizes]) if sizes else np.empty(0, np.int64)
    per_unit = np.concatenate([np.diff(o) for o in entry_offsets]) if entry_offsets else np.empty(0, np.int64)
    eligible = np.isfinite(key)
    eligible &= per_unit > 0  # the score pass made them ineligible already
    # the global key order (larger key first; ties by unit hash, then file and unit, as find_threshold)
    order = np.lexsort((unit_of, file_of, h, -np.where(eligible, key, -np.inf)))
    position = np.empty(len(key), np.int64)
    position[order] = np.arange(len(key))
    pair_unit = np.repeat(np.arange(len(key)), per_unit)
    pair_entry = np.concatenate(entry_ids).astype(np.int64) if entry_ids else np.empty(0, np.int64)
    ok = eligible[pair_unit]
    pair_unit, pair_entry = pair_unit[ok], pair_entry[ok]
    counts = np.bincount(pair_entry, minlength=len(names)).astype(np.int64)
    by_entry = np.lexsort((position[pair_unit], pair_entry))
    first = np.zeros(len(names) + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    rank = np.empty(len(pair_unit), np.int64)
    rank[by_entry] = np.arange(len(by_entry)) - first[pair_entry[by_entry]]
    best = np.full(len(key), np.iinfo(np.int64).max)
    np.minimum.at(best, pair_unit, rank)
    chosen = eligible.copy()
    beyond = 0
    if cap is not None:
        beyond = int((chosen & (best >= cap)).sum())
        chosen &= best < cap
    final = np.lexsort((position, np.where(chosen, best, np.iinfo(np.int64).max)))
    new = np.full(len(key), -np.inf)
    n_chosen = int(chosen.sum())
    new[final[:n_chosen]] = np.arange(n_chosen, 0, -1, dtype=np.float64)
    ranks_all = np.where(eligible, best, -1)
    bounds = np.cumsum([0] + sizes)
    split = lambda a: [a[bounds[f]: bounds[f + 1]] for f in range(n_files)]  # noqa: E731
    return BalancedKeys(split(new), names, counts, split(ranks_all), beyond,
                        list(zip([i.astype(np.int32) for i in entry_ids], entry_offsets)))


def expected_counts(counts: np.ndarray, cap: int | None) -> np.ndarray | None:
    """Per entry, the units the rule keeps of it through itself: ``min(count, cap)``."""
    return None if cap is None else np.minimum(counts, cap)


def reached_cap(balanced: BalancedKeys, assigned: list[np.ndarray]) -> int | None:
    """The cap a budget reached: the smallest balance rank of an eligible unit left out (each
    entry kept at least its ``min(count, that)`` best units); None when none was left out."""
    left = [r[(a < 0) & (r >= 0) & np.isfinite(k)] for r, a, k in zip(balanced.ranks, assigned, balanced.keys)]
    left = np.concatenate(left) if left else np.empty(0, np.int64)
    return int(left.min()) if len(left) else None


def head_and_tail(names: list[str], before: np.ndarray, after: np.ndarray, expected: np.ndarray | None,
                  n: int = HEAD_TAIL) -> dict:
    """The ``n`` entries with the most and the ``n`` with the fewest matches (ties by name),
    each with its count before, after and (with a cap) expected."""
    order = sorted(range(len(names)), key=lambda i: (-int(before[i]), names[i]))

    def row(i: int) -> dict:
        return {"entry": names[i], "before": int(before[i]), "after": int(after[i]),
                **({"expected": int(expected[i])} if expected is not None else {})}

    head = order[:n]
    tail = [i for i in order[max(n, len(order) - n):]]
    return {"head": [row(i) for i in head], "tail": [row(i) for i in tail]}
