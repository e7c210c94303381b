"""Shaping a selection on the benchmark corpus: ``--mix`` and ``--scores``, each checked against
what it should give, computed here independently of dsir.

* **Mixture**: ``--mix domain=legal:0.5,literature:0.3,quotes:0.2`` with the legal target, at
  k = 3,001 (so the shares have remainders) and at a token budget of 1,000,001; the selection's
  composition, counted from the output shards' ``domain`` labels, must equal the largest-
  remainder split computed here (at k), and each part must be the part's own largest keys
  (``DSIR.score`` of the same target and seed, restricted to the part).
* **Outside scores**: a score per pool document made here, the share of its words longer than
  six letters (a stand-in for a quality classifier), written as parquet by ``(file, row)``;
  ``--scores`` alone at k = 2,000 must select exactly the 2,000 best scores, ``--keep-top 0.05``
  the best 5%, and ``--score-weight 5`` with the legal target exactly the 2,000 largest
  ``key + 5 * score`` (keys from ``DSIR.score``).

Usage, from the repository root::

    .venv/bin/python bench/shape.py

Writes ``bench/results/shape.json`` and ``bench/results/shape.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from dsir import DSIR  # noqa: E402
from dsir.io.paths import expand_paths, open_binary  # noqa: E402

CORPUS = (REPO_ROOT / ".." / "shared" / "corpus").resolve()
WORK = REPO_ROOT / "bench" / ".work" / "shape"
RESULTS = REPO_ROOT / "bench" / "results"
MIX = {"legal": 0.5, "literature": 0.3, "quotes": 0.2}
K_MIX, TOKENS_MIX, K_SCORES, LAMBDA = 3001, 1_000_001, 2000, 5.0


def pool_records() -> list[tuple[str, int, dict]]:
    """``(file as dsir names it, row, record)`` of every pool document."""
    out = []
    for f in expand_paths([str(CORPUS / "pool")], "raw"):
        with open_binary(f.path) as fh:
            import io

            import zstandard

            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
            for row, line in enumerate(text):
                out.append((f.path, row, json.loads(line)))
    return out


def selected(out: Path) -> list[dict]:
    import io

    import zstandard

    rows = []
    for p in sorted(out.glob("part-*")):
        with open(p, "rb") as fh:
            data = zstandard.ZstdDecompressor().stream_reader(fh) if p.suffix == ".zst" else fh
            rows += [json.loads(line) for line in io.TextIOWrapper(data, encoding="utf-8")]
    return rows


def largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    exact = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    out = {k: int(v) for k, v in exact.items()}
    order = sorted(shares, key=lambda k: (-(exact[k] - out[k]), list(shares).index(k)))
    for k in order[: total - sum(out.values())]:
        out[k] += 1
    return out


def main() -> int:
    t0 = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    records = pool_records()
    pool, target = str(CORPUS / "pool"), str(CORPUS / "target" / "legal.jsonl.zst")
    res: dict = {"checks": []}

    def check(what: str, ok: bool) -> None:
        res["checks"].append([what, bool(ok)])
        print(("ok: " if ok else "FAILED: ") + what, file=sys.stderr)

    # keys of the legal target, for the independent checks
    keys = DSIR(seed=0).score(pool, target=target).to_pylist()
    key_of = {(k["file"], k["row"]): k["key"] for k in keys}
    spec = "domain=" + ",".join(f"{v}:{p}" for v, p in MIX.items())

    # -- mixture by documents
    m = DSIR(seed=0).select(pool, str(WORK / "mix"), k=K_MIX, target=target, mix=spec, report=False)
    got = Counter(r["domain"] for r in selected(WORK / "mix"))
    want = largest_remainder(K_MIX, MIX)
    check(f"mix at k = {K_MIX}: composition {dict(got)} equals the largest-remainder split {want}", dict(got) == want)
    ids = {r["id"] for r in selected(WORK / "mix")}
    for value, n in want.items():
        part = sorted(((key_of[(f, r)], rec["id"]) for f, r, rec in records if rec["domain"] == value), reverse=True)
        best = {i for _, i in part[:n]}
        check(f"mix part {value}: the {n} selected are the part's own {n} largest keys",
              best == {i for i in ids if i in {x for _, x in part}})
    res["mix_docs"] = {"spec": spec, "k": K_MIX, "expected": want, "selected": dict(got), "parts": m["mix"]["parts"]}

    # -- mixture by tokens
    m = DSIR(seed=0).select(pool, str(WORK / "mix-tokens"), tokens=TOKENS_MIX, target=target, mix=spec, report=False)
    parts = m["mix"]["parts"]
    want_t = largest_remainder(TOKENS_MIX, MIX)
    check(f"mix at {TOKENS_MIX:,} tokens: each part's requested tokens are the largest-remainder split {want_t}",
          {p["value"]: p["requested_tokens"] for p in parts} == want_t)
    check("mix by tokens: each part reaches its share", all(p["selected_tokens"] >= p["requested_tokens"] for p in parts))
    res["mix_tokens"] = {"tokens": TOKENS_MIX, "parts": parts}

    # -- outside scores
    def long_share(text: str) -> float:
        words = re.findall(r"[^\W\d_]+", text)
        return round(sum(len(w) > 6 for w in words) / len(words), 6) if words else 0.0

    score = {(f, r): long_share(rec["text"]) for f, r, rec in records}
    pq.write_table(pa.table({"file": [f for f, _, _ in records], "row": [r for _, r, _ in records],
                             "long_words": [score[(f, r)] for f, r, _ in records]}), WORK / "scores.parquet")
    id_of = {(f, r): rec["id"] for f, r, rec in records}
    ranked = sorted(score, key=lambda fr: (-score[fr], fr))
    m = DSIR(method="random").select(pool, str(WORK / "top"), k=K_SCORES, scores=str(WORK / "scores.parquet"),
                                     score_column="long_words", report=False)
    got_ids = {r["id"] for r in selected(WORK / "top")}
    cut = score[ranked[K_SCORES - 1]]
    sure = {id_of[fr] for fr in ranked if score[fr] > cut}
    tied = {id_of[fr] for fr in ranked if score[fr] == cut}
    check(f"--scores alone, k = {K_SCORES}: the {K_SCORES} best scores (all {len(sure)} above the {K_SCORES}th "
          f"score {cut}, the rest among the {len(tied)} equal to it)",
          len(got_ids) == K_SCORES and sure <= got_ids and got_ids - sure <= tied)
    res["scores_top"] = {"k": K_SCORES, "kth_score": cut, "above": len(sure), "tied_at_kth": len(tied),
                         "selected": len(got_ids), "manifest": m["scores"]}
    m = DSIR().select(pool, str(WORK / "keep-top"), keep_top=0.05, scores=str(WORK / "scores.parquet"),
                      score_column="long_words", report=False)
    n = m["counts"]["selected"]
    got_ids = {r["id"] for r in selected(WORK / "keep-top")}
    cut = score[ranked[n - 1]]
    check(f"--keep-top 0.05: {n} documents (5% of {m['counts']['eligible']:,}), the best scores",
          n == round(0.05 * m["counts"]["eligible"]) and {id_of[fr] for fr in ranked if score[fr] > cut} <= got_ids)
    res["keep_top"] = {"fraction": 0.05, "selected": n, "eligible": m["counts"]["eligible"]}
    m = DSIR(seed=0).select(pool, str(WORK / "weighted"), k=K_SCORES, target=target,
                            scores=str(WORK / "scores.parquet"), score_column="long_words", score_weight=LAMBDA,
                            report=False)
    mixed = sorted(((key_of[fr] + LAMBDA * score[fr], fr) for fr in score if key_of[fr] != float("-inf")),
                   reverse=True)
    want_ids = {id_of[fr] for _, fr in mixed[:K_SCORES]}
    got_ids = {r["id"] for r in selected(WORK / "weighted")}
    plain = {id_of[fr] for fr in sorted(key_of, key=lambda fr: -key_of[fr])[:K_SCORES]}
    check(f"--score-weight {LAMBDA:g}: the {K_SCORES} largest key + {LAMBDA:g} * score", got_ids == want_ids)
    legal = lambda ids: sum(1 for f, r, rec in records if rec["id"] in ids and rec["domain"] == "legal")  # noqa: E731
    mean = lambda ids: sum(score[fr] for fr in score if id_of[fr] in ids) / len(ids)  # noqa: E731
    res["weighted"] = {"lambda": LAMBDA, "k": K_SCORES, "changed_vs_plain": len(got_ids - plain),
                       "mean_score": round(mean(got_ids), 4), "mean_score_plain": round(mean(plain), 4),
                       "legal": legal(got_ids), "legal_plain": legal(plain)}
    res["meta"] = {"command": ".venv/bin/python bench/shape.py",
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "seconds": round(time.perf_counter() - t0, 1), "cpus": os.cpu_count()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shape.json").write_text(json.dumps(res, indent=1) + "\n")
    (RESULTS / "shape.md").write_text(render(res) + "\n")
    print(render(res))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0 if all(ok for _, ok in res["checks"]) else 1


def render(res: dict) -> str:
    meta = res["meta"]
    md, mt = res["mix_docs"], res["mix_tokens"]
    w = res["weighted"]
    out = [f"`{meta['command']}` ({meta['date']}; {meta['seconds']:.0f} s)", "",
           f"Mixture `--mix {md['spec']}`, target legal:", "",
           "| value | proportion | k = 3,001: expected (largest remainder) | selected | eligible | "
           "1,000,001 tokens: requested | selected tokens | documents |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p, q in zip(md["parts"], mt["parts"]):
        out.append(f"| {p['value']} | {p['proportion']:g} | {md['expected'][p['value']]:,} | {p['selected']:,} | "
                   f"{p['eligible']:,} | {q['requested_tokens']:,} | {q['selected_tokens']:,} | {q['selected']:,} |")
    st, kt = res["scores_top"], res["keep_top"]
    out += ["", f"Outside scores (the share of words longer than six letters, made by the benchmark, parquet by "
            f"file and row): `--scores` alone at k = {st['k']:,} selected {st['selected']:,} documents, all "
            f"{st['above']:,} scored above the {st['k']:,}th score ({st['kth_score']}) and the rest among the "
            f"{st['tied_at_kth']:,} equal to it; `--keep-top 0.05` selected {kt['selected']:,} of "
            f"{kt['eligible']:,}. With the legal target and `--score-weight {w['lambda']:g}`, k = {w['k']:,}: "
            f"{w['changed_vs_plain']:,} documents differ from the target alone, the mean score rises from "
            f"{w['mean_score_plain']} to {w['mean_score']}, legal documents {w['legal_plain']:,} -> {w['legal']:,}.",
            "", "Checks:", ""]
    out += [f"* {'ok' if ok else '**FAILED**'}: {what}" for what, ok in res["checks"]]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
