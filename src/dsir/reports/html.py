"""A self-contained ``report.html``: inline CSS, plots as base64 PNG data URIs, no scripts,
no fonts or anything else fetched over the network."""

from __future__ import annotations

import json

import base64
import html
import os

CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.sub{color:#5b6675;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 14px}
.card .v{font-size:22px;font-weight:600}.card .l{color:#5b6675;font-size:12px}
img{max-width:100%;background:#fff;border:1px solid #dde1e6;border-radius:6px;display:block;margin:8px 0}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0;font-size:13px}
td,th{border:1px solid #dde1e6;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef1f4}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.doc{background:#fff;border:1px solid #dde1e6;border-left:4px solid #9aa5b1;border-radius:6px;padding:8px 12px;margin:8px 0}
.doc.sel{border-left-color:#1f77b4}.doc .m{color:#5b6675;font-size:12px;margin-bottom:4px}
.doc p{margin:0;white-space:pre-wrap;font-size:13px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.note{color:#5b6675;font-size:12.5px}code{background:#eef1f4;padding:0 3px;border-radius:3px}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _requested(entry: dict) -> str:
    """What was asked for: a number of units, or a token budget (with the tokens reached)."""
    if entry.get("requested_tokens") is not None:
        return f"{entry['requested_tokens']:,} tokens ({entry['selected_tokens']:,} selected)"
    return _n(entry["requested"])


def _n(x: float | int | None, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{digits}g}" if abs(x) < 1e6 else f"{x:,.0f}"


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _card(value: str, label: str) -> str:
    return f'<div class="card"><div class="v">{value}</div><div class="l">{_e(label)}</div></div>'


def _bucket_rows(rows: list[dict]) -> list[list[str]]:
    return [[_e(" | ".join(r["names"]) or "(no n-gram seen in the samples)"), _n(r["log_ratio"], 3),
             _n(r["target_count"]), _n(r["raw_count"]), str(r["bucket"])] for r in rows]


def _pair(section: dict | None) -> str:
    """``selection / pool`` of a diversity or perplexity section ("–" when absent)."""
    if not section or section.get("selected") is None:
        return "–"
    return f"{_n(section['selected'])} / {_n(section['pool'])}"


def _text_figures(t: dict) -> list[str]:
    """The diversity and held-out perplexity of target ``t``, selection against pool."""
    eq, dv, pp = t["equal_text"], t["diversity"], t["perplexity"]
    ppl = pp is not None and pp["selected"] is not None
    head = ["equal text", "words", "units", "distinct bigrams"] + (["held-out perplexity"] if ppl else [])
    rows = [["selection", _n(eq["words"]), _n(eq["selected_units"]), _n(dv["selected"])],
            ["uniform sample of the eligible pool", _n(eq["words"]), _n(eq["pool_units"]), _n(dv["pool"])]]
    if ppl:
        rows[0].append(_n(pp["selected"]))
        rows[1].append(_n(pp["pool"]))
    out = ["<h2>Diversity and held-out perplexity</h2>", _table(head, rows, {1, 2, 3, 4}),
           f"<p class='note'>Equal texts: {_e(eq['what'])}. Diversity: {_e(dv['what'])} (higher: less "
           "repetition).</p>"]
    if pp is None:
        out.append("<p class='note'>No held-out perplexity: give held-out target documents with "
                   "<code>--target-eval PATH</code> (to <code>dsir select</code> or <code>dsir report</code>).</p>")
    elif not ppl:
        out.append(f"<p class='note'>{_e(pp['note'])}.</p>")
    else:
        ev = pp["eval"]
        out.append(f"<p class='note'>Perplexity: {_e(pp['what'])}, on {ev['documents']:,} held-out documents "
                   f"({ev['words']:,} words) of {_e(', '.join(os.path.basename(x) for x in ev['paths']))}"
                   + (f", {ev['rejected']:,} bad records skipped" if ev["rejected"] else "")
                   + f" (lower: closer to the target); selection / pool = {pp['ratio']:.3g}.</p>")
    return out


def _filters_section(filters: dict | None) -> list[str]:
    """What the filters excluded before selection, with examples."""
    if not filters:
        return []
    out = ["<h2>Excluded before selection</h2>"]
    dec = filters.get("decontaminate")
    if dec:
        out.append(f"<p class='note'>Decontamination: {dec['excluded_documents']:,} pool documents share a run of "
                   f"{dec['ngram_words']} words with these files ({dec['distinct_ngrams']:,} distinct runs; a false "
                   f"match has a chance of about {dec['false_match_rate']:.1g} per run of the pool), and none of them "
                   "can be selected.</p>")
        out.append(_table(["file", "documents", "runs of words", "shorter documents (cannot match)",
                           "pool documents excluded"],
                          [[_e(f["path"]), _n(f["documents"]), _n(f["ngrams"]), _n(f["short_documents"]),
                            _n(f["excluded_documents"])] for f in dec["files"]], {1, 2, 3, 4}))
        for ex in dec["examples"]:
            out.append(f"<div class='doc'><div class='m'>excluded · {_e(ex['file'])} row {ex['row']} · shares "
                       f"“{_e(ex['ngram'])}”</div><p>{_e(ex['text'])}</p></div>")
    rules = filters.get("quality_rules")
    if rules:
        out.append(f"<p class='note'>Quality rules ({_e(rules['preset'])}): {rules['excluded_documents']:,} pool "
                   "documents fail at least one rule and cannot be selected; a document failing several rules "
                   "counts for each below.</p>")
        thresholds = rules.get("thresholds", {})
        out.append(_table(["rule", "threshold", "documents failing it"],
                          [[_e(r), _e(json.dumps(thresholds.get(r))), _n(n)]
                           for r, n in rules["failed_documents"].items()], {2}))
        for ex in rules["examples"]:
            out.append(f"<div class='doc'><div class='m'>excluded · {_e(ex['file'])} row {ex['row']} · fails "
                       f"{_e(', '.join(ex['rules']))}</div><p>{_e(ex['text'])}</p></div>")
    return out


def _dedup_section(dedup: dict | None) -> list[str]:
    """The candidates ``--dedup`` dropped, with example pairs."""
    if not dedup:
        return []
    how = ("the same words (lowercased runs of letters and digits)" if dedup["mode"] == "exact" else
           f"an estimated Jaccard similarity of {dedup['threshold']:g} or more over {dedup['shingle_words']}-word "
           f"shingles (MinHash, {dedup['permutations']} values in {dedup['bands']} LSH bands; pairs estimated at "
           f"{dedup['cutoff']:.3f} or more count)")
    out = ["<h2>Duplicates skipped</h2>",
           f"<p class='note'>With --dedup {_e(dedup['mode'])}, units were taken in key order and a unit with "
           f"{_e(how)} to one taken before it was skipped: {dedup['dropped']:,} candidates "
           f"({dedup['dropped_tokens']:,} tokens) were dropped, and the selection is the first distinct units.</p>"]
    out.append(_table(["target", "candidates examined", "dropped as duplicates"],
                      [[_e(t["name"] or "–"), _n(t["examined"]), _n(t["dropped"])] for t in dedup["per_target"]],
                      {1, 2}))
    for t in dedup["per_target"]:
        for ex in t["examples"]:
            out.append(f"<div class='doc'><div class='m'>dropped · {_e(ex['file'])} unit {ex['unit']} · similarity "
                       f"{ex['similarity']:.2f} to the selected {_e(ex['kept_file'])} unit {ex['kept_unit']}</div>"
                       f"<p>{_e(ex['text'])}</p><div class='m'>selected</div><p>{_e(ex['kept_text'])}</p></div>")
    return out


def _mix_section(mix: dict | None, unit: str) -> list[str]:
    """The requested composition over the --mix field against the selected one."""
    if not mix:
        return []
    tokens = mix["parts"][0]["requested"] is None
    what = "tokens" if tokens else unit
    out = ["<h2>Mixture</h2>",
           f"<p class='note'>--mix over the field {_e(mix['field'])}: the budget is split over its values by "
           f"largest remainder, and each part takes the largest keys among its own {_e(unit)}; {_e(unit)} of "
           "other values are not eligible.</p>"]
    out.append(_table(["value", "proportion", f"{what} requested", f"{what} selected", "eligible " + unit],
                      [[_e(p["value"]), f"{p['share']:.4g}", _n(p["requested_tokens"] if tokens else p["requested"]),
                        _n(p["selected_tokens"] if tokens else p["selected"]), _n(p["eligible"])]
                       for p in mix["parts"]], {1, 2, 3, 4}))
    return out


def _balance_section(balance: dict | None, unit: str) -> list[str]:
    """The balance's head and tail entries: units matching each before and after (and the
    rule's min(count, cap) with a cap)."""
    if not balance:
        return []
    by = (f"the values of the field {_e(balance['field'])}" if balance["field"] else
          f"the entries of {_e(balance['entries_file'])}, matched as lowercased substrings")
    cap = (f"cap {balance['cap']:,}: each entry keeps its min(count, {balance['cap']:,}) best-keyed {_e(unit)}"
           if balance["cap"] is not None else "no cap: the budget takes each entry's best-keyed "
           f"{_e(unit)} in turn" + (f" (it reached {balance['cap_reached']:,} per entry)"
                                    if balance["cap_reached"] is not None else ""))
    out = ["<h2>Balance</h2>",
           f"<p class='note'>Balanced over {by} ({balance['entries_matched']:,} of {balance['entries']:,} entries "
           f"matched); {cap}; a {_e(unit[:-1] if unit.endswith('s') else unit)} is kept when any of its entries keeps "
           f"it. {balance['units_without_entry']:,} otherwise eligible {_e(unit)} matched no entry and "
           f"{balance['units_beyond_cap']:,} were beyond the cap.</p>"]
    capped = "expected" in (balance["head"] or [{}])[0]
    header = ["entry", f"{unit} before", f"{unit} after"] + (["min(count, cap)"] if capped else [])
    for title, rows in (("Head (the most matches)", balance["head"]), ("Tail (the fewest)", balance["tail"])):
        if rows:
            out.append(f"<h3>{title}</h3>")
            out.append(_table(header, [[_e(r["entry"]), _n(r["before"]), _n(r["after"])]
                                       + ([_n(r["expected"])] if capped else []) for r in rows],
                              {1, 2, 3}))
    return out


def render_html(report: dict, plots: dict[str, bytes]) -> str:
    """The whole report as one HTML document (every plot inline)."""
    c, kl, w, ln = report["counts"], report["kl"], report["weights"], report["lengths"]
    u = c.get("unit", "documents")
    p = report["parameters"]
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"<title>dsir selection report</title><style>{CSS}</style></head><body><main>"]
    targets = ", ".join(os.path.basename(t) for t in report["target_paths"]) or "a saved model"
    out.append(f"<h1>Data selection report</h1><p class='sub'>target: {_e(targets)} · pool: {report['inputs']:,} "
               f"file{'s' if report['inputs'] != 1 else ''} · {_e(report['method'])} · seed {_e(p.get('seed'))} · "
               f"dsir {_e(report['dsir_version'])}</p>")
    out.append('<div class="cards">' + "".join([
        _card(f"{c[f'selected_{u}']:,}", f"selected of {c[f'pool_{u}']:,} {u} "
              f"({100 * c['selected_fraction_of_pool']:.2g}%; {c[f'eligible_{u}']:,} eligible)"),
        _card(f"{c['selected_tokens']:,}", f"selected tokens of {c['pool_tokens']:,} "
              f"({100 * c['selected_fraction_of_tokens']:.2g}%)"),
        _card("–" if kl["reduction"] is None else f"{kl['reduction']:.3f}",
              "KL reduction, nats" + ("" if kl["reduction"] is None else
                                     f" ({100 * kl['relative_reduction']:.0f}% of KL(target ‖ raw))")),
        _card("–" if w["effective_sample_size"] is None else f"{w['effective_sample_size']:,.1f}",
              "effective sample size of the weights" + ("" if w["effective_sample_size"] is None else
                                                          f" ({100 * w['effective_sample_size_fraction']:.2g}% of eligible)")),
    ]) + "</div>")

    out.append(f"<p class='headline'>{_e(report['headline'])}.</p>")
    if len(report["targets"]) > 1:
        out.append("<h2>Targets</h2>")
        out.append(_table(["target", "requested", "selected", "KL reduction (nats)",
                           "distinct bigrams (selection / pool)", "held-out perplexity (selection / pool)",
                           "verdict"], [
            [_e(t["name"]), _requested(t), _n(t["selected"]), _n(t["kl"]["reduction"]), _pair(t["diversity"]),
             _pair(t["perplexity"]), _e(t["verdict"])]
            for t in report["targets"]], {1, 2, 3, 4, 5}))
        out.append("<p class='note'>Each target's KL numbers compare that target with the units selected for it; "
                   "the sections below show the first target.</p>")
    out.append("<h2>Counts</h2>")
    out.append(_table(["", u, "tokens", "text bytes"], [
        ["pool", _n(c[f"pool_{u}"]), _n(c["pool_tokens"]), _bytes(c["pool_text_bytes"])],
        ["eligible", _n(c[f"eligible_{u}"]), "", ""],
        ["selected", _n(c[f"selected_{u}"]), _n(c["selected_tokens"]), _bytes(c["selected_text_bytes"])],
    ], {1, 2, 3}))
    out.append(f"<p class='note'>Requested {_requested(c)}; selected fraction: "
               f"{100 * c['selected_fraction_of_eligible']:.3g}% of eligible {u}, "
               f"{100 * c['selected_fraction_of_tokens']:.3g}% of tokens. Output shards: {_bytes(c['selected_output_bytes'])}.</p>")

    out += _filters_section(report.get("filters"))
    out += _dedup_section(report.get("dedup"))
    out += _mix_section(report.get("mix"), u)
    out += _balance_section(report.get("balance"), u)

    out.append("<h2>KL reduction</h2>")
    out.append(_img(plots["kl.png"], "KL divergences and the share of the reduction carried by the top buckets"))
    s = kl["samples"]
    shares = ", ".join(f"top {m}: {100 * v:.0f}%" for m, v in kl["top_bucket_share"].items() if v is not None)
    out.append(_table(["quantity", "value"], [
        ["KL(target ‖ raw)", _n(kl["kl_target_raw"])], ["KL(target ‖ selected)", _n(kl["kl_target_selected"])],
        ["KL reduction", _n(kl["reduction"])], ["share of the reduction carried by the top buckets", _e(shares or "–")],
    ], {1}))
    fs = kl["feature_space"]
    out.append(f"<p class='note'>Hashed n-gram distributions in the selection's feature space ({_e(fs['name'])}, "
               f"n-grams up to {fs['ngrams']}, {fs['buckets']:,} buckets), additive smoothing {kl['smoothing']:g} on all "
               f"three. Samples: target {s['target']['documents']:,} documents / {s['target']['ngrams']:,} n-grams "
               f"({_e(s['target']['what'])}); raw {s['raw']['documents']:,} documents / {s['raw']['ngrams']:,} n-grams "
               f"({_e(s['raw']['what'])}); selected {s['selected']['documents']:,} documents / "
               f"{s['selected']['ngrams']:,} n-grams ({_e(s['selected']['what'])}).</p>")
    out.append("<p class='note'>A bucket's contribution is p_target × (log p_selected − log p_raw); the contributions "
               "add up to the reduction. Some buckets move away from the target, so the top buckets' share can pass "
               "100% before falling back to it.</p><p>Buckets that carry the most of the reduction:</p>")
    out.append(_table(["n-grams in the bucket", "contribution (nats)", "p target", "log ratio", "bucket"], [
        [_e(" | ".join(r["names"]) or "(not named: see note)"), _n(r["contribution"]), _n(r["p_target"]),
         _n(r["log_ratio"]), str(r["bucket"])] for r in kl["top_contributions"]], {1, 2, 3}))
    out += _text_figures(report["targets"][0])

    out.append("<h2>Distributions</h2>")
    out.append(_img(plots["weights.png"], "histogram of the pool's log-weights with the selection threshold"))
    ess = "" if w["effective_sample_size"] is None else (
        f"Effective sample size (Σw)²/Σw² = {w['effective_sample_size']:,.2f} over {w['log_weight']['documents']:,} "
        "eligible units.")
    out.append(f"<p class='note'>Weights: {_e(w['what'])}. The line marks the k-th largest weight "
               f"({_n(w['kth_largest_log_weight'])}): {_e(w['cut'])}. {ess}</p>")
    if w["effective_sample_size_fraction"] is not None and w["effective_sample_size_fraction"] < 0.01:
        out.append("<p class='note'>A small effective sample size means a few units carry most of the total weight "
                   "(a low temperature, or summed log-weights that spread over many nats). Resampling without "
                   "replacement still draws k distinct units; a larger pool or a lower k leaves it more room.</p>")
    out.append(_img(plots["lengths.png"], "document lengths of target, pool and selection"))
    rows = []
    for key in ("target", "pool", "selected"):
        L = ln[key]
        if L["documents"]:
            rows.append([key, _n(L["documents"]), _n(L["mean"]), _n(L["p10"]), _n(L["median"]), _n(L["p90"]), _n(L["max"])])
    out.append(_table(["tokens per document", "documents", "mean", "p10", "median", "p90", "max"], rows, {1, 2, 3, 4, 5, 6}))
    if not ln["target"].get("available", True):
        out.append("<p class='note'>Target lengths are not shown: the run reused a saved model, so the target files are unknown.</p>")

    why = report["why"]
    ns = why["names_sample"]
    out.append("<h2>Why these documents</h2>")
    out.append(_img(plots["why.png"], "n-grams that raise and lower the weight"))
    out.append("<div class='two'><div><b>Raise the weight</b>" +
               _table(["n-grams", "log ratio", "target", "raw", "bucket"], _bucket_rows(why["raising"]), {1, 2, 3}) +
               "</div><div><b>Lower the weight</b>" +
               _table(["n-grams", "log ratio", "target", "raw", "bucket"], _bucket_rows(why["lowering"]), {1, 2, 3}) +
               "</div></div>")
    out.append("<p class='note'>Buckets are ranked by their pull on weights: log ratio × the bucket's probability "
               "under the target (raise) or under the raw data (lower), so common n-grams come before rare ones.</p>")
    out.append(f"<p class='note'>A bucket's n-grams are the strings hashed into it that were seen most often in samples of "
               f"{ns['target_documents']:,} target and {ns['raw_documents']:,} raw documents; several strings share a bucket. "
               f"The target and raw columns are the bucket's counts in the fitted models.</p>")
    titles = {"top": "Highest weights", "threshold": "Selected, just above the threshold", "bottom": "Lowest weights"}
    for key, title in titles.items():
        out.append(f"<h3>{_e(title)}</h3>")
        for ex in report["examples"][key]:
            out.append(f"<div class='doc{' sel' if ex['selected'] else ''}'><div class='m'>"
                       f"{'selected' if ex['selected'] else 'not selected'} · weight {ex['weight']:.3g} · "
                       f"{ex['tokens']:,} tokens · {_e(ex['file'])} row {ex['row']}</div><p>{_e(ex['text'])}</p></div>")
        if not report["examples"][key]:
            out.append("<p class='note'>none</p>")

    for comp in report.get("compositions", []):
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in comp["field"])
        out.append(f"<h2>Composition by <code>{_e(comp['field'])}</code></h2>")
        out.append(_img(plots[f"composition-{safe}.png"], f"composition by {comp['field']}"))
        out.append(_table(["value", "pool", "pool %", "selected", "selected %", "selected of the group %"], [
            [_e(g["value"]), _n(g["pool"]), f"{100 * g['pool_share']:.1f}", _n(g["selected"]),
             f"{100 * g['selected_share']:.1f}", f"{100 * g['selected_of_group']:.1f}"] for g in comp["groups"]],
            {1, 2, 3, 4, 5}))

    out.append("<h2>Parameters</h2>")
    flat = {k: v for k, v in p.items() if k != "featurizer"}
    out.append(_table(["parameter", "value"], [[_e(k), f"<code>{_e(v)}</code>"] for k, v in flat.items()]))
    out.append("<p class='note'>Every number of this page is in report.json; the plots are also in report/*.png.</p>")
    out.append("</main></body></html>")
    return "\n".join(out)
