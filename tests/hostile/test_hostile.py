"""The hostile-input suite: every case ends in the documented behaviour (issue 18)."""

from __future__ import annotations

import pytest

from tests.hostile.cases import _HOLDERS, CASES
from tests.hostile.harness import check_outcome, run_case


def test_the_suite_has_at_least_a_hundred_distinct_cases():
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), "two cases share a name"
    assert len(names) >= 100, len(names)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, tmp_path):
    try:
        check_outcome(case, run_case(case, tmp_path), tmp_path)
    finally:
        while _HOLDERS:
            _HOLDERS.pop().kill()
