"""dsir: fast data selection with importance resampling over hashed n-gram features.

>>> from dsir import DSIR
>>> DSIR(seed=0).select(raw="pool/*.jsonl.zst", target="target.jsonl", k=1000, output_dir="out")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from dsir.kernel_cache import announce_compiling, ensure_kernel_cache  # noqa: E402

ensure_kernel_cache()  # before any kernel module is imported
announce_compiling()

from dsir.api import DSIR  # noqa: E402

__all__ = ["DSIR", "__version__"]
