"""Speed of the word kernels, side by side on the same ~20 MB of the corpus pool: the
decontamination's former word split (``words_of``: pyarrow regex and list arrays, then
``word_hashes``) against the compiled ``word_hashes_of`` (the same hashes, checked), and the
``--dedup`` signatures (``dedup.minhash.signatures``, 128 and 1 permutations). One thread,
process CPU time, best of several runs after a warm-up; the machine may be shared, so read the
ratios. Usage, from the repository root::

    .venv/bin/python bench/word_kernels.py
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import zstandard

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from dsir.dedup.minhash import signatures  # noqa: E402
from dsir.filters.words import word_hashes, word_hashes_of, words_of  # noqa: E402

POOL = (REPO_ROOT / ".." / "shared" / "corpus" / "pool" / "pool-00000.jsonl.zst").resolve()


def corpus_texts(mb: float = 20.0) -> tuple[pa.Array, int]:
    texts, n = [], 0
    with open(POOL, "rb") as fh:
        for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8"):
            t = json.loads(line)["text"]
            texts.append(t)
            n += len(t.encode())
            if n >= mb * 1e6:
                break
    return pa.array(texts, pa.large_string()), n


def best(f, reps: int):
    times = []
    for _ in range(reps):
        t = time.process_time()
        r = f()
        times.append(time.process_time() - t)
    return min(times), float(np.median(times)), r


def main() -> int:
    arr, n = corpus_texts()
    mb = n / 1e6
    print(f"{len(arr)} documents, {mb:.1f} MB of UTF-8 text (the first of {POOL.name})")
    signatures(arr[:10], 5, 128, 1)
    word_hashes_of(arr[:10])
    t_old, m_old, a = best(lambda: word_hashes(words_of(arr)), 3)
    t_new, m_new, b = best(lambda: word_hashes_of(arr), 7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "the kernel's hashes differ from the reference's"
    print(f"word_hashes(words_of(texts)): {mb / t_old:.1f} MB/s (median {mb / m_old:.1f})")
    print(f"word_hashes_of(texts):        {mb / t_new:.0f} MB/s (median {mb / m_new:.0f}), the same hashes")
    for p in (128, 1):
        t, m, _ = best(lambda: signatures(arr, 5, p, 0x5EEDD5D1), 7)
        print(f"signatures(P={p}, shingle_words=5): {mb / t:.0f} MB/s (median {mb / m:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
