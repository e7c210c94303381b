"""The reference DSIR package's API (PyPI ``data-selection`` 1.0.3, module ``data_selection``)
on dsir's compiled pipeline.

Switch with one import line::

    from dsir.compat.data_selection import HashedNgramDSIR

or, for scripts that import ``data_selection`` (and its submodules) themselves, call
``alias()`` first. The layout mirrors the reference: ``base`` (``DSIR``, the default
loaders), ``hashed_ngram_dsir`` (``HashedNgramDSIR``, ``hash_buckets``,
``get_ngram_counts``), ``utils`` (``parallelize``). What differs, and why:
docs/migrating-from-data-selection.md.
"""

from __future__ import annotations

import sys

from dsir import __version__ as _dsir_version

#: The reference version whose API this is, with dsir's as a local version label: ``load``
#: refuses a file saved by another version, as the reference does (and so the reference's own
#: pickles, whose classes differ).
__version__ = f"1.0.3+dsir.{_dsir_version}"

from dsir.compat.data_selection import base, hashed_ngram_dsir, utils  # noqa: E402
from dsir.compat.data_selection.base import DSIR  # noqa: E402
from dsir.compat.data_selection.hashed_ngram_dsir import HashedNgramDSIR  # noqa: E402

_SUBMODULES = {"base": base, "hashed_ngram_dsir": hashed_ngram_dsir, "utils": utils}


def alias() -> None:
    """Make ``import data_selection`` (and ``data_selection.base``, ``.hashed_ngram_dsir``,
    ``.utils``) give this package, so that scripts written for the reference run unchanged."""
    sys.modules["data_selection"] = sys.modules[__name__]
    for name, module in _SUBMODULES.items():
        sys.modules[f"data_selection.{name}"] = module


__all__ = ["DSIR", "HashedNgramDSIR", "__version__", "alias", "base", "hashed_ngram_dsir", "utils"]
