"""Shaping a selection on the benchmark corpus: ``--mix``, ``--scores`` and the balance, each
checked against what it should give, computed here independently of dsir.

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
* **Balance** (MetaCLIP's rule): ``--balance-field domain --balance-cap 1500`` without a target
  must keep exactly ``min(count, 1500)`` documents of each domain (counts of the eligible
  documents made here), and with the legal target each domain's own 1,500 largest keys;
  ``-k 4000`` with no cap must be the 4,000 first documents in balance order (best rank within
  the domain, then key) computed here; ``--balance-entries`` of 20 words and phrases with cap
  200 must select exactly the documents whose best rank over the entries they contain
  (Python's ``in`` on the lowercased text) is below 200. Cost: the score pass's matcher alone on
  the pool's texts with those 20 entries and with 20,000 (the pool's most frequent words), and a
  whole select with and without ``--balance-entries`` side by side.
* **fastText scorer**: a classifier of the legal target against a uniform sample of the pool
  (fastText's defaults: dim 100, 5 epochs; word bigrams), trained here; ``--scorer`` alone at
  k = 2,000 must select exactly the 2,000 best probabilities of ``__label__legal`` as fastText's
  own ``predict`` gives them; its precision against the labels next to dsir's default at the
  same k; the scorer's speed alone on the pool's texts, and a whole select with it against the
  default select side by side.

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
    balance(res, check, records, key_of, keys, pool, target)
    scorer(res, check, records, pool, target)
    res["meta"] = {"command": ".venv/bin/python bench/shape.py",
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "seconds": round(time.perf_counter() - t0, 1), "cpus": os.cpu_count()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shape.json").write_text(json.dumps(res, indent=1) + "\n")
    (RESULTS / "shape.md").write_text(render(res) + "\n")
    print(render(res))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0 if all(ok for _, ok in res["checks"]) else 1


CAP, K_BALANCE, CAP_ENTRIES = 1500, 4000, 200
ENTRIES = ["License", "kernel", "function", "love", "king", "said", "market", "define", "option", "python",
           "the court", "warranty", "god", "war", "file", "error", "money", "heart", "system", "night"]


def balance_order(members: dict[str, list], key_of: dict) -> dict:
    """Each unit's best rank over the entries it is a member of (each entry ranking by key)."""
    best: dict = {}
    for units in members.values():
        for n, fr in enumerate(sorted(units, key=lambda fr: -key_of[fr])):
            best[fr] = min(best.get(fr, n), n)
    return best


def balance(res: dict, check, records, key_of: dict, keys: list, pool: str, target: str) -> None:
    """The balance checks and costs (module doc)."""
    import numpy as np

    from dsir.sample.balance import match_entries

    eligible = {(k["file"], k["row"]) for k in keys if k["eligible"]}
    id_of = {(f, r): rec["id"] for f, r, rec in records}
    domain_of = {(f, r): rec["domain"] for f, r, rec in records}
    before = Counter(domain_of[fr] for fr in eligible)
    want = {d: min(n, CAP) for d, n in before.items()}
    m = DSIR(seed=0, method="random").select(pool, str(WORK / "balance"), balance_field="domain", balance_cap=CAP,
                                             report=False)
    got = Counter(r["domain"] for r in selected(WORK / "balance"))
    check(f"--balance-field domain --balance-cap {CAP}, no target: each domain keeps exactly min(count, {CAP})",
          dict(got) == want)
    listed = {x["entry"]: x for x in m["balance"]["head"] + m["balance"]["tail"]}
    check("the manifest's counts before and after are the ones counted here",
          {d: (x["before"], x["after"], x["expected"]) for d, x in listed.items()} ==
          {d: (before[d], got[d], want[d]) for d in before})
    res["balance_field"] = {"cap": CAP, "before": dict(before), "expected": want, "selected": dict(got),
                            "selected_total": m["counts"]["selected"]}
    m = DSIR(seed=0).select(pool, str(WORK / "balance-t"), balance_field="domain", balance_cap=CAP, target=target,
                            report=False)
    sel = {r["id"] for r in selected(WORK / "balance-t")}
    by_domain: dict[str, list] = {}
    for fr in eligible:
        by_domain.setdefault(domain_of[fr], []).append(fr)
    best = {id_of[fr] for units in by_domain.values() for fr in sorted(units, key=lambda fr: -key_of[fr])[:CAP]}
    check(f"with the legal target and cap {CAP}: each domain's own {CAP} largest keys", sel == best)
    rank = balance_order(by_domain, key_of)
    order = sorted(eligible, key=lambda fr: (rank[fr], -key_of[fr]))
    m = DSIR(seed=0).select(pool, str(WORK / "balance-k"), k=K_BALANCE, balance_field="domain", target=target,
                            report=False)
    sel = {r["id"] for r in selected(WORK / "balance-k")}
    check(f"with the legal target, k = {K_BALANCE} and no cap: the {K_BALANCE} first in balance order",
          sel == {id_of[fr] for fr in order[:K_BALANCE]})
    check("the cap it reached is the best rank left out", m["balance"]["cap_reached"] == rank[order[K_BALANCE]])
    res["balance_k"] = {"k": K_BALANCE, "cap_reached": m["balance"]["cap_reached"],
                        "selected": dict(Counter(r["domain"] for r in selected(WORK / "balance-k")))}

    entries = WORK / "entries.txt"
    entries.write_text("\n".join(ENTRIES) + "\n")
    lowered = [e.lower() for e in ENTRIES]
    text_of = {(f, r): rec["text"].lower() for f, r, rec in records}
    members = {e: [fr for fr in eligible if e in text_of[fr]] for e in lowered}
    rank = balance_order(members, key_of)
    want_ids = {id_of[fr] for fr, n in rank.items() if n < CAP_ENTRIES}
    t = time.perf_counter()
    m = DSIR(seed=0).select(pool, str(WORK / "entries"), balance_entries=str(entries), balance_cap=CAP_ENTRIES,
                            target=target, report=False)
    entries_seconds = time.perf_counter() - t
    sel = {r["id"] for r in selected(WORK / "entries")}
    check(f"--balance-entries ({len(ENTRIES)} entries) --balance-cap {CAP_ENTRIES}: the documents of best rank "
          f"below {CAP_ENTRIES}", sel == want_ids)
    listed = {x["entry"]: x for x in m["balance"]["head"] + m["balance"]["tail"]}
    check("each entry's count before is its matches counted here, and it keeps at least min(count, cap)",
          all(listed[e]["before"] == len(members[e]) and listed[e]["after"] >= min(len(members[e]), CAP_ENTRIES)
              for e in lowered))
    t = time.perf_counter()
    DSIR(seed=0).select(pool, str(WORK / "plain"), k=len(sel), target=target, report=False)
    plain_seconds = time.perf_counter() - t
    res["balance_entries"] = {"entries": len(ENTRIES), "cap": CAP_ENTRIES, "selected": len(sel),
                              "units_without_entry": m["balance"]["units_without_entry"],
                              "rows": sorted(({"entry": e, "before": listed[e]["before"], "after": listed[e]["after"]}
                                              for e in lowered), key=lambda x: -x["before"]),
                              "select_seconds": round(entries_seconds, 2), "plain_seconds": round(plain_seconds, 2)}
    texts = pa.array([rec["text"] for _, _, rec in records], pa.large_string())
    mb = sum(len(rec["text"].encode()) for _, _, rec in records) / 1e6
    words = Counter(w for rec in (r for _, _, r in records) for w in re.findall(r"[a-z]{4,}", rec["text"].lower()))
    vocabulary = tuple(w for w, _ in words.most_common(20_000))
    speed = {}
    for name, patterns in (("20 entries", tuple(lowered)), ("20,000 entries", vocabulary)):
        match_entries(patterns, texts.slice(0, 10))  # builds the automaton
        t = time.perf_counter()
        matched = 0
        for start in range(0, len(texts), 4096):
            e = match_entries(patterns, texts.slice(start, 4096))
            matched += int(np.diff(e.offsets).astype(bool).sum())
        speed[name] = {"mb_per_s": round(mb / (time.perf_counter() - t), 1), "documents_matched": matched}
    res["balance_cost"] = {"text_mb": round(mb, 1), "matcher": speed}


def scorer(res: dict, check, records, pool: str, target: str) -> None:
    """The fastText scorer's checks and costs (module doc)."""
    import random

    import fasttext
    import zstandard

    from dsir.sample.fasttext_scorer import FastTextScorer, ScorerSpec

    rng = random.Random(0)
    with open(target, "rb") as fh:
        legal = [json.loads(line)["text"] for line in
                 io_text(zstandard.ZstdDecompressor().stream_reader(fh)).read().splitlines()]
    sample = [rec["text"] for _, _, rec in rng.sample(records, len(legal))]
    train = WORK / "scorer-train.txt"
    train.write_text("".join(f"__label__{name} " + " ".join(t.split()) + "\n"
                             for name, texts in (("legal", legal), ("other", sample)) for t in texts))
    # thread=12: fastText 0.9.3 trains from partly uninitialized weights with fewer threads
    fasttext.train_supervised(str(train), wordNgrams=2, thread=12, verbose=0).save_model(str(WORK / "legal.bin"))
    model = fasttext.load_model(str(WORK / "legal.bin"))
    texts = [" ".join(rec["text"].split()) for _, _, rec in records]
    labels, probs = model.predict(texts, k=-1)
    p = [float(dict(zip(ls, ps)).get("__label__legal", 0.0)) for ls, ps in zip(labels, probs)]
    ids = [rec["id"] for _, _, rec in records]
    ranked = sorted(range(len(p)), key=lambda i: -p[i])
    cut = p[ranked[K_SCORES - 1]]
    t = time.perf_counter()
    m = DSIR(method="random").select(pool, str(WORK / "scorer"), k=K_SCORES, scorer=f"fasttext:{WORK / 'legal.bin'}",
                                     scorer_label="legal", report=False)
    scorer_seconds = time.perf_counter() - t
    got = {r["id"] for r in selected(WORK / "scorer")}
    sure = {ids[i] for i in ranked if p[i] > cut}
    tied = {ids[i] for i in ranked if p[i] == cut}
    check(f"--scorer alone, k = {K_SCORES}: the {K_SCORES} best P(legal) by fastText's own predict",
          len(got) == K_SCORES and sure <= got and got - sure <= tied)
    t = time.perf_counter()
    DSIR(seed=0).select(pool, str(WORK / "default-k"), k=K_SCORES, target=target, report=False)
    default_seconds = time.perf_counter() - t
    domain = {rec["id"]: rec["domain"] for _, _, rec in records}
    precision = lambda out: sum(domain[r["id"]] == "legal" for r in selected(out)) / K_SCORES  # noqa: E731
    arrow = pa.array([rec["text"] for _, _, rec in records], pa.large_string())
    mb = arrow.nbytes / 1e6
    fast = FastTextScorer(ScorerSpec(str(WORK / "legal.bin"), "legal"))
    fast.load()
    t = time.perf_counter()
    fast.score(arrow)
    speed = mb / (time.perf_counter() - t)
    res["scorer"] = {"k": K_SCORES, "selected": len(got), "kth_probability": cut, "tied_at_kth": len(tied),
                     "precision": round(precision(WORK / "scorer"), 4),
                     "precision_default": round(precision(WORK / "default-k"), 4),
                     "select_seconds": round(scorer_seconds, 2), "default_seconds": round(default_seconds, 2),
                     "scorer_mb_per_s": round(speed, 1), "text_mb": round(mb, 1),
                     "model_mb": round((WORK / "legal.bin").stat().st_size / 1e6, 1), "manifest": m["scores"]}


def io_text(stream):
    import io

    return io.TextIOWrapper(stream, encoding="utf-8")


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
            ""]
    bf, bk, be, bc = res["balance_field"], res["balance_k"], res["balance_entries"], res["balance_cost"]
    out += [f"Balance `--balance-field domain --balance-cap {bf['cap']:,}` (no target; {bf['selected_total']:,} "
            f"documents), and `-k {bk['k']:,}` with the legal target and no cap (it reached {bk['cap_reached']:,} "
            "per domain):", "", "| domain | eligible before | min(count, cap) | selected (cap) | selected (-k, "
            "legal target) |", "|---|---:|---:|---:|---:|"]
    for d in sorted(bf["before"], key=lambda d: -bf["before"][d]):
        out.append(f"| {d} | {bf['before'][d]:,} | {bf['expected'][d]:,} | {bf['selected'][d]:,} | "
                   f"{bk['selected'].get(d, 0):,} |")
    out += ["", f"`--balance-entries` ({be['entries']} words and phrases, matched lowercased) `--balance-cap "
            f"{be['cap']}` with the legal target: {be['selected']:,} documents; {be['units_without_entry']:,} "
            "eligible documents matched no entry. Per entry, documents before -> after: "
            + ", ".join(f"{r['entry']} {r['before']:,} -> {r['after']:,}" for r in be["rows"]) + ".", "",
            f"Cost: the select with `--balance-entries` took {be['select_seconds']:.1f} s, the same select "
            f"without it {be['plain_seconds']:.1f} s ({be['select_seconds'] / be['plain_seconds']:.2f}x, one run "
            f"each). The matcher alone on the pool's {bc['text_mb']} MB of text, one thread: "
            + "; ".join(f"{n}: {v['mb_per_s']} MB/s ({v['documents_matched']:,} documents match one)"
                        for n, v in bc["matcher"].items()) + ".", ""]
    sc = res["scorer"]
    out += [f"fastText scorer: a classifier of the legal target against as many pool documents drawn "
            f"uniformly, fastText's defaults with word bigrams ({sc['model_mb']} MB), trained by the script. "
            f"`--scorer` alone at k = {sc['k']:,}: precision {sc['precision']:.4f} against the labels (dsir's "
            f"default with the legal target: {sc['precision_default']:.4f}). The scorer alone on the pool's "
            f"{sc['text_mb']} MB of text: {sc['scorer_mb_per_s']} MB/s on one thread; the whole select with it "
            f"took {sc['select_seconds']:.1f} s against {sc['default_seconds']:.1f} s for the default select "
            "(one run each, one after the other).", "", "Checks:", ""]
    out += [f"* {'ok' if ok else '**FAILED**'}: {what}" for what, ok in res["checks"]]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
