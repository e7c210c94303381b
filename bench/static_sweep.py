"""The L2 penalty of minilm-static's logistic regression, swept on the choosing half of the
domains (bench/quality.py's budgets and metrics; the other half confirms, in bench/neural.py).

    python bench/static_sweep.py 1e-5 1e-4 1e-3 1e-2 1e-1

Writes ``bench/results/static_sweep/l2-<value>/quality.{json,md}`` per value.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import quality  # noqa: E402
from dsir.estimate import methods  # noqa: E402

CHOOSING = ["dictionary", "kernel_docs", "literature", "quotes"]


def main(argv: list[str]) -> int:
    for l2 in (float(x) for x in argv):
        methods.EMBEDDING_TRAINING["l2"] = l2  # what the discriminative fit reads in the static space
        out = quality.RESULTS_DIR / "static_sweep" / f"l2-{l2:g}"
        quality.main(["--methods", "minilm-static", "minilm-static-topk", "--domains", *CHOOSING, "--results-dir",
                      str(out)], name="quality")
        table = (out / "quality.md").read_text()
        (out / "quality.md").write_text(f"`python bench/static_sweep.py {' '.join(argv)}`, this run with "
                                        f"EMBEDDING_TRAINING = {methods.EMBEDDING_TRAINING}; through " + table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
