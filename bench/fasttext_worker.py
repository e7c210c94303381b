"""Train fastText classifiers and score a pool with them: the worker of
``bench/fasttext_side_by_side.py``, run inside ``bench/.venv-fasttext`` (``fasttext-wheel``).

Usage (the side-by-side bench writes the job file)::

    bench/.venv-fasttext/bin/python bench/fasttext_worker.py JOB.json

The job (JSON) names ``train`` (a fastText file: ``__label__target`` / ``__label__raw`` and
the text, one document a line), ``pool`` (the pool's texts, one a line, the same
preprocessing), ``out`` (a folder), ``threads`` and ``settings`` (a list of
``{"name", "dim", "epoch", "lr"}``). For each setting it trains ``fasttext.train_supervised``
(``wordNgrams=2``, ``bucket=2**20``, ``minCount=1``, ``loss="softmax"``) and writes to ``out``:

* ``<name>.predict.npy``: ``log(p / (1 - p))`` of P(target) from ``model.predict(lines, k=2)``
  (fastText returns ``exp(log(p + 1e-5))``, so this saturates near +-11.5);
* ``<name>.exact.npy``: the same log-odds without that clip, ``(o_target - o_raw) . h`` with
  ``h = model.get_sentence_vector(line)`` (the hidden layer predict uses) and ``o`` the rows
  of ``model.get_output_matrix()``;

and ``<name>.json`` with CPU seconds (``time.process_time`` of this process) of training, of
predict over the pool (the faster of two passes, plus turning its output into log-odds) and of
the exact pass, and the training's label counts. Standard
library, numpy and fasttext only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import fasttext
import numpy as np


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    lines = Path(job["pool"]).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    labels = [line.split(" ", 1)[0] for line in Path(job["train"]).read_text(encoding="utf-8").splitlines()]
    n_target, n_raw = labels.count("__label__target"), labels.count("__label__raw")
    for s in job["settings"]:
        t0 = time.process_time()
        w0 = time.perf_counter()
        model = fasttext.train_supervised(
            input=job["train"], dim=int(s["dim"]), epoch=int(s["epoch"]), lr=float(s["lr"]), wordNgrams=2,
            bucket=1 << 20, minCount=1, minn=0, maxn=0, loss="softmax", thread=int(job["threads"]),
            seed=int(job.get("seed", 0)), verbose=0)
        train_cpu, train_wall = time.process_time() - t0, time.perf_counter() - w0

        predict_cpu = []
        for _ in range(2):  # the faster of two passes (the first also pages the model in)
            t0 = time.process_time()
            got, probs = model.predict(lines, k=2)
            predict_cpu.append(time.process_time() - t0)
        t0 = time.process_time()
        p_target = np.array([p[ls.index("__label__target")] if "__label__target" in ls else 0.0
                             for ls, p in zip(got, probs)], dtype=np.float64)
        p_target = np.clip(p_target, 1e-5, 1.0)
        predict_log_odds = np.log(p_target) - np.log(np.clip(1.0 - p_target, 1e-5, None))
        predict_cpu = min(predict_cpu) + time.process_time() - t0

        t0 = time.process_time()
        o = model.get_output_matrix()
        names = list(model.labels)
        direction = (o[names.index("__label__target")] - o[names.index("__label__raw")]).astype(np.float64)
        hidden = np.stack([model.get_sentence_vector(line) for line in lines]).astype(np.float64)
        exact_log_odds = hidden @ direction
        exact_cpu = time.process_time() - t0

        # unweighted classes: the odds carry the class-size ratio; take it off (a constant)
        shift = float(np.log(n_target / n_raw))
        np.save(out / f"{s['name']}.predict.npy", predict_log_odds - shift)
        np.save(out / f"{s['name']}.exact.npy", exact_log_odds - shift)
        (out / f"{s['name']}.json").write_text(json.dumps({
            **s, "train_cpu_s": train_cpu, "train_wall_s": train_wall, "predict_cpu_s": predict_cpu,
            "exact_cpu_s": exact_cpu, "n_target": n_target, "n_raw": n_raw, "class_shift": shift,
            "pool_lines": len(lines), "vocabulary": len(model.words),
            "predict_saturated": int(np.sum(np.abs(predict_log_odds) > 11.0)),
            "predict_vs_exact_max_abs_diff_unsaturated": float(np.max(
                np.abs(predict_log_odds - exact_log_odds)[np.abs(predict_log_odds) < 8.0], initial=0.0)),
        }, indent=1))
        print(f"{s['name']}: train {train_cpu:.1f} CPU-s, predict {predict_cpu:.1f} CPU-s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
