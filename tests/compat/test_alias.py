"""A script written for the reference runs unchanged once ``data_selection`` is the shim."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dsir.compat.data_selection import _native

# As a user of data-selection 1.0.3 writes it (its README's quick start, and its helpers).
SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import data_selection
    from data_selection import HashedNgramDSIR
    from data_selection.base import default_load_dataset_fn, default_parse_example_fn
    from data_selection.hashed_ngram_dsir import get_ngram_counts, hash_buckets
    from data_selection.utils import parallelize

    raw, target, work = sys.argv[1:4]
    assert hash_buckets("alice") == 6720 and get_ngram_counts("alice was").sum() == 3
    assert parallelize(len, ["ab", "c"], 2) == [2, 1]
    dsir = HashedNgramDSIR([raw], [target], cache_dir=os.path.join(work, "cache"), num_proc=2,
                           raw_load_dataset_fn=default_load_dataset_fn,
                           raw_parse_example_fn=default_parse_example_fn, min_example_length=2)
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    dsir.save(os.path.join(work, "dsir_params.pkl"))
    dsir.load(os.path.join(work, "dsir_params.pkl"))
    np.random.seed(0)
    dsir.resample(out_dir=os.path.join(work, "resampled"), num_to_sample=3,
                  cache_dir=os.path.join(work, "resample_cache"))
    print(data_selection.__version__, sorted(os.listdir(os.path.join(work, "resampled"))))
""")

ALIASES = {
    "helper": "import dsir.compat.data_selection as m; m.alias()",
    "by hand": ("import sys, dsir.compat.data_selection as m\n"
                "for name in ('', '.base', '.hashed_ngram_dsir', '.utils'):\n"
                "    sys.modules['data_selection' + name] = sys.modules['dsir.compat.data_selection' + name]"),
    "top level only": "import sys, dsir.compat.data_selection as m; sys.modules['data_selection'] = m",
}


@pytest.mark.parametrize("how", list(ALIASES))
def test_a_reference_script_runs(tiny, tmp_path, how: str) -> None:
    raw, target = tiny
    script = tmp_path / "selection_script.py"  # not select.py: that would shadow the select module
    script.write_text(ALIASES[how] + "\n" + SCRIPT)
    done = subprocess.run([sys.executable, str(script), raw, target, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1)[1].strip() == "['0.jsonl', '1.jsonl']"
    assert not (tmp_path / "resample_cache").exists()
    if _native.REFERENCE_FEATURES:  # what data_selection 1.0.3 itself writes for these steps
        assert (tmp_path / "resampled" / "0.jsonl").read_text() == '{"text": "alice and the queen"}\n'
        assert (tmp_path / "resampled" / "1.jsonl").read_text() == \
            '{"text": "The Queen!"}\n{"text": "Alice, Alice."}\n'
