"""A cold kernel cache compiles the featurizer in a child process (issue 13, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Arms the warm-up as a run does, compiles another kernel first (the line scanner, as a
# jsonl run does), then featurizes; prints which dsir kernels this process compiled and the
# counts it got.
SCRIPT = """
import json, sys
import numpy as np, pyarrow as pa
from numba.core import event
import dsir
from dsir.featurize import warmup
from dsir.featurize.hashed_ngrams import HashedNgramFeaturizer
from dsir.featurize.kernels import line_spans

compiled = []
class Seen(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Seen())
if sys.argv[1] == "broken-child":
    warmup.sys = type("S", (), {"executable": "/bin/false"})  # the child cannot run: exits at once
warmup.start_on_first_compile(2)
buf = np.frombuffer(b"a\\nb\\n", dtype=np.uint8)
line_spans(buf, len(buf), True)
counts, tokens = HashedNgramFeaturizer(2, 50).count(pa.array(["Elinor and Marianne", "caf\\u00e9 au lait"]))
print(json.dumps({"compiled": compiled, "counts": counts.tolist(), "tokens": tokens.tolist()}))
"""


def _run(tmp_path, mode: str, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / cache)}
    if mode == "no-warmup":
        env["DSIR_NO_WARMUP"] = "1"
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_child_compiles_the_featurizer_and_the_counts_are_the_same(tmp_path):
    with_child = _run(tmp_path, "warmup", "a")
    assert "newline_positions" in with_child["compiled"]  # the first compile: the child starts
    assert "_block_batch" not in with_child["compiled"]  # loaded from the cache the child filled
    alone = _run(tmp_path, "no-warmup", "b")
    assert "_block_batch" in alone["compiled"]
    assert (with_child["counts"], with_child["tokens"]) == (alone["counts"], alone["tokens"])
    assert sum(alone["counts"]) == 2 * sum(alone["tokens"]) - 2  # unigrams and bigrams of both texts


def test_a_child_that_fails_only_costs_the_compile(tmp_path):
    broken = _run(tmp_path, "broken-child", "c")
    assert "_block_batch" in broken["compiled"]  # compiled here instead
    alone = _run(tmp_path, "no-warmup", "d")
    assert (broken["counts"], broken["tokens"]) == (alone["counts"], alone["tokens"])
