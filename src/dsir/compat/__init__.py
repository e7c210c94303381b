"""Drop-in replacements for other data-selection packages, running on dsir's pipeline.

``dsir.compat.data_selection`` is the API of the reference DSIR package (PyPI
``data-selection``, module ``data_selection``); see docs/migrating-from-data-selection.md.
"""
